"""Batches through a DataLoader: worker processes and cifar10's augmentation change nothing a step computes.
Augmentation is a function of (seed, epoch, index): the same in any worker and in a resumed run, new each
epoch; 2 ranks with workers and moving shares, and a stopped and resumed run, reach one process's weights."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from hetero_train.augment import BLACK, PAD, crop_and_flip
from hetero_train.data import Cifar10, collate
from hetero_train.hardware import Hardware
from hetero_train.loader import EpochItems, workers_for

from .runs import relative_difference, run_ranks, weights
from .test_datasets import make_cifar10

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    make_cifar10(root / "data", per_batch=16)  # 80 training images: 5 steps of 16 per epoch
    return root


def shifted_copies(x: torch.Tensor) -> list[torch.Tensor]:
    """Every crop (padding PAD, black) of x and its mirror image: what the augmentation may give."""
    c, h, w = x.shape
    canvas = BLACK.expand(c, h + 2 * PAD, w + 2 * PAD).clone()
    canvas[:, PAD : PAD + h, PAD : PAD + w] = x
    crops = [canvas[:, t : t + h, s : s + w] for t in range(2 * PAD + 1) for s in range(2 * PAD + 1)]
    return crops + [crop.flip(-1) for crop in crops]


def test_augmentation_is_fixed_per_index_and_epoch_and_new_each_epoch(cifar):
    plain = Cifar10(cifar / "data")
    items = EpochItems(plain, crop_and_flip, seed=0)
    epoch0 = [items[(i, 0)][0] for i in range(len(plain))]
    assert all(torch.equal(items[(i, 0)][0], x) for i, x in enumerate(epoch0))  # the same when asked again
    assert all(items[(i, 0)][1] == plain[i][1] for i in range(len(plain)))  # the label stays
    # Each is a crop (padding 4) of the image, maybe mirrored; and not the image itself for most samples.
    for i in range(8):
        assert any(torch.equal(epoch0[i], c) for c in shifted_copies(plain[i][0]))
    assert sum(not torch.equal(x, plain[i][0]) for i, x in enumerate(epoch0)) > len(plain) * 0.9
    epoch1 = [items[(i, 1)][0] for i in range(len(plain))]
    assert sum(not torch.equal(a, b) for a, b in zip(epoch0, epoch1, strict=True)) > len(plain) * 0.9
    # Worker processes give the very same batch as the main process.
    keys = [[(i, 0) for i in range(len(plain))]]
    loaded = next(iter(DataLoader(items, batch_sampler=keys, num_workers=2, collate_fn=collate)))
    assert torch.equal(loaded[0], torch.stack(epoch0))


@pytest.mark.parametrize(
    ("gpu", "cores", "wanted", "workers"),
    [(False, 1.0, None, 0), (False, 2.0, None, 0), (False, 8.0, None, 2), (True, 1.0, None, 1),
     (True, 6.5, None, 5), (True, 64.0, None, 8), (False, 1.0, 3, 3)],
)  # fmt: skip
def test_workers_follow_the_ranks_cpu_quota(gpu, cores, wanted, workers):
    hw = Hardware("h", "cuda:0" if gpu else "cpu", cpu_cores=cores)
    assert workers_for(hw, wanted) == workers


def test_workers_augmentation_and_moving_shares_keep_the_single_process_weights(cifar):
    root = cifar
    common = ["--dataset", "cifar10", "--data-dir", str(root / "data"), "--global-batch-size", "16",
              "--epochs", "3", "--log-every", "1", "--output-dir", str(root / "exp"),
              "--precision", "fp32"]  # fmt: skip
    run_ranks(1, [*common, "--max-steps", "12", "--data-workers", "0", "--experiment-name", "one"], root)
    balanced = run_ranks(
        2,
        [*common, "--max-steps", "12", "--data-workers", "1", "--rank-shares", "7,1",
         "--enable-load-balancing", "--rebalance-every", "2", "--leave-out-percent", "0",
         "--experiment-name", "two"],
        root,
    )  # fmt: skip
    assert len({tuple(e["shares"]) for e in balanced[0].of("step")}) > 1  # the split moved
    # One process with 2 workers, stopped mid-epoch at step 6 and resumed: the same 12 steps.
    resumed = [*common, "--data-workers", "2", "--save-every", "3", "--experiment-name", "resumed"]
    run_ranks(1, [*resumed, "--max-steps", "7"], root)
    again = run_ranks(1, [*resumed, "--max-steps", "12"], root)
    assert again[0].of("resume")[0]["step"] == 7 and again[0].of("resume")[0]["offset"] == 2 * 16
    one = weights(root / "exp/one/checkpoints/final.pt")
    assert relative_difference(weights(root / "exp/two/checkpoints/final.pt"), one) <= 1e-5
    assert relative_difference(weights(root / "exp/resumed/checkpoints/final.pt"), one) <= 1e-5
