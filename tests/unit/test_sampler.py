"""The global sample order: disjoint slices, full coverage, independent of world size and shares."""

from __future__ import annotations

import pytest
import torch

from hetero_train.sampler import GlobalSampler, epoch_order, steps_per_epoch


def epoch_slices(n: int, batch: int, shares: list[int], epoch: int = 0) -> list[list[torch.Tensor]]:
    """Every step's per-rank slices for one epoch, as the ranks would each compute them."""
    sampler = GlobalSampler(n, seed=7, world_size=len(shares))
    steps, offset = [], 0
    while not sampler.epoch_done(offset, batch):
        parts = [sampler.step(epoch, offset, batch, shares, r) for r in range(len(shares))]
        steps.append([p.indices for p in parts])
        offset += parts[0].batch
    return steps


@pytest.mark.parametrize("shares", [[32], [24, 8], [1, 31], [10, 11, 11], [5, 1, 20, 6]])
@pytest.mark.parametrize("n", [320, 333, 100])
def test_each_sample_is_used_once_per_epoch_whatever_the_shares(n, shares):
    steps = epoch_slices(n, 32, shares)
    used = torch.cat([t for step in steps for t in step])
    assert sorted(used.tolist()) == list(range(n))  # disjoint and complete
    assert all(len(t) >= 1 for step in steps for t in step)
    assert len(steps) == steps_per_epoch(n, 32, len(shares))


def test_the_last_partial_batch_is_used_with_the_shares_scaled():
    steps = epoch_slices(100, 32, [24, 8])
    assert [len(t) for t in steps[-1]] == [3, 1]  # 100 = 3*32 + 4, split 3:1


def test_a_tail_smaller_than_the_world_is_dropped_so_every_rank_gets_a_sample():
    steps = epoch_slices(97, 32, [10, 11, 11])  # 97 = 3*32 + 1: one sample cannot feed three ranks
    assert len(steps) == 3 and sum(len(t) for step in steps for t in step) == 96


@pytest.mark.parametrize("shares", [[16, 16], [1, 31], [10, 11, 11], [5, 1, 20, 6]])
def test_the_order_does_not_depend_on_the_world_size(shares):
    def flat(steps):
        return torch.cat([t for step in steps for t in step])

    assert torch.equal(flat(epoch_slices(333, 32, shares)), flat(epoch_slices(333, 32, [32])))


def test_epochs_have_different_orders_and_the_same_seed_repeats():
    assert not torch.equal(epoch_order(100, 1, 0), epoch_order(100, 1, 1))
    assert torch.equal(epoch_order(100, 1, 3), epoch_order(100, 1, 3))
