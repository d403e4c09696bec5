"""Batches through a torch DataLoader: the global sampler's per-rank slices are its batch sampler, worker
processes sized to the rank's CPU quota load (and augment) the samples ahead of the step, and a GPU rank
gets pinned memory, so decoding images does not stall a step.

The workers only load what the sampler chose: a step's samples are those of sampler.py whatever the number
of workers, and an augmented sample depends on (seed, epoch, index) alone (augment.py), so the DataLoader
path takes the single process's step. The loader runs ahead with the current plan; when the plan changes
(new shares, a re-formed world, a resumed position) the prefetched batches are dropped and it starts again
from the step asked for.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Sampler, Subset

from . import augment
from .config import Config
from .data import collate
from .hardware import Hardware
from .sampler import GlobalSampler, StepSlice

MAX_WORKERS = 8


def workers_for(hw: Hardware, wanted: int | None = None) -> int:
    """--data-workers, or from the cores the rank may use: on a GPU rank all but one (at least one, so the
    next batch loads while the GPU computes); on a CPU rank, whose cores compute the step, a quarter."""
    if wanted is not None:
        return wanted
    cores = int(hw.cpu_cores)
    return max(1, min(MAX_WORKERS, cores - 1)) if hw.has_gpu else min(MAX_WORKERS, cores // 4)


class EpochItems(torch.utils.data.Dataset):
    """The data set's items keyed by (index, epoch): augmented, when the data set is, with the generator of
    (seed, epoch, index) - the same image in any worker, on any rank, in a resumed run."""

    def __init__(self, dataset, augmentation: Callable | None, seed: int):
        self.dataset, self.augmentation, self.seed = dataset, augmentation, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, epoch = key
        x, y = self.dataset[index]
        if self.augmentation is not None:
            x = self.augmentation(x, augment.generator(self.seed, epoch, index))
        return x, y


class StepSlices(Sampler):
    """From (epoch, offset) on, with one plan (sampler, global batch, shares, rank): this rank's
    [(index, epoch), ...] of each step, on into the next epochs."""

    def __init__(self):
        super().__init__()
        self.plan: tuple[GlobalSampler, int, list[int], int] | None = None
        self.start = (0, 0)

    def __iter__(self):
        sampler, batch, shares, rank = self.plan
        epoch, offset = self.start
        while True:
            part = sampler.step(epoch, offset, batch, shares, rank)
            yield [(int(i), epoch) for i in part.indices]
            offset += part.batch
            if sampler.epoch_done(offset, batch):
                epoch, offset = epoch + 1, 0


class Feed:
    """This rank's batches, step after step."""

    def __init__(self, dataset, cfg: Config, hw: Hardware):
        self.workers = workers_for(hw, cfg.data_workers)
        self.pin = hw.has_gpu
        self.seed = cfg.seed
        self.slices = StepSlices()
        self.loader = self._loader(
            EpochItems(dataset, augment.for_dataset(cfg.dataset), cfg.seed), self.slices
        )
        self.iterator = None
        self.expected: tuple | None = None  # (plan, epoch, offset) of the iterator's next batch

    def _loader(self, dataset, batch_sampler, persistent: bool = True) -> DataLoader:
        return DataLoader(
            dataset,
            batch_sampler=batch_sampler,
            num_workers=self.workers,
            collate_fn=collate,
            pin_memory=self.pin,
            persistent_workers=persistent and self.workers > 0,  # kept across plan changes
            # Its own generator: making an iterator draws the workers' seed, never from the run's RNG.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def batch(
        self, sampler: GlobalSampler, epoch: int, offset: int, global_batch: int, shares: list[int], rank: int
    ) -> tuple[StepSlice, torch.Tensor, torch.Tensor]:
        """The step's slice (sampler.step's) and this rank's (inputs, targets) of it."""
        part = sampler.step(epoch, offset, global_batch, shares, rank)
        plan = (sampler.num_samples, sampler.seed, sampler.world_size, global_batch, tuple(shares), rank)
        if self.iterator is None or self.expected != (plan, epoch, offset):
            # Its own sampler (and order cache): it runs ahead, into the next epoch, of the trainer's.
            self.slices.plan = (GlobalSampler(*plan[:3]), global_batch, list(shares), rank)
            self.slices.start = (epoch, offset)
            self.iterator = iter(self.loader)
        x, y = next(self.iterator)
        after = offset + part.batch
        following = (epoch + 1, 0) if sampler.epoch_done(after, global_batch) else (epoch, after)
        self.expected = (plan, *following)
        return part, x, y

    def over(self, dataset, indices: list[int], batch: int) -> DataLoader:
        """Batches of `indices` of `dataset` in order, never augmented (evaluation), with the same workers."""
        chunks = [list(range(i, min(i + batch, len(indices)))) for i in range(0, len(indices), batch)]
        return self._loader(Subset(dataset, indices), chunks, persistent=False)
