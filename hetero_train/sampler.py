"""One global, seeded sample order per epoch, cut into disjoint per-rank slices.

The order depends only on (seed, epoch, dataset size) - never on the world size or the shares - so a
step on any number of ranks sees the same samples as a single process would, and every sample of an
epoch is used exactly once whatever the split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .shares import largest_remainder


def epoch_order(num_samples: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_samples, generator=g)


def usable_samples(num_samples: int, global_batch: int, world_size: int) -> int:
    """Samples used per epoch: all, except a last partial batch too small to give every rank one."""
    tail = num_samples % global_batch
    return num_samples - tail if 0 < tail < world_size else num_samples


def steps_per_epoch(num_samples: int, global_batch: int, world_size: int) -> int:
    return -(-usable_samples(num_samples, global_batch, world_size) // global_batch)


@dataclass(frozen=True)
class StepSlice:
    indices: torch.Tensor  # this rank's samples
    shares: list[int]  # every rank's share of this step (sums to the step's batch)

    @property
    def batch(self) -> int:
        return sum(self.shares)


class GlobalSampler:
    def __init__(self, num_samples: int, seed: int, world_size: int):
        self.num_samples = num_samples
        self.seed = seed
        self.world_size = world_size
        self._cache: tuple[int, torch.Tensor] | None = None

    def order(self, epoch: int) -> torch.Tensor:
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, epoch_order(self.num_samples, self.seed, epoch))
        return self._cache[1]

    def epoch_done(self, offset: int, global_batch: int) -> bool:
        return offset >= usable_samples(self.num_samples, global_batch, self.world_size)

    def step(self, epoch: int, offset: int, global_batch: int, shares: list[int], rank: int) -> StepSlice:
        """Samples [offset, offset+B) of the epoch's order, rank `rank`'s consecutive part of them.

        The last partial batch of an epoch is used too: the shares are scaled to its size.
        """
        batch = self.order(epoch)[offset : offset + global_batch]
        step_shares = shares if len(batch) == sum(shares) else largest_remainder(shares, len(batch))
        start = sum(step_shares[:rank])
        return StepSlice(batch[start : start + step_shares[rank]], step_shares)
