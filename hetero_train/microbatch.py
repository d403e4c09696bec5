"""Micro-batching (`--micro-batch N`): a rank works through its share in chunks of at most N samples.

Each chunk's loss is its summed per-sample loss over the same divisor as the whole share's, and backward
adds each chunk's gradient to the last: their sum is the share's gradient, so the step is the one without
micro-batching (up to the order of float additions). The gradients go to the other ranks once, after the
last chunk: DDP's `no_sync` keeps the chunks before it local. Only one chunk's activations are held at a
time, so a large global batch fits a small machine - and a large global batch amortises communication.

A share smaller than N is one chunk: with balancing the shares move, so N is a cap, not a size. With N = 0
(the default) the cap is what fits in the rank's free memory, measured at the first step (memory_fit.py):
a share that fits goes whole, as before.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from . import memory_fit


def chunks(samples: int, micro_batch: int) -> list[slice]:
    """Consecutive slices of at most `micro_batch` samples (0: one slice, the whole share)."""
    size = micro_batch or samples
    return [slice(i, min(i + size, samples)) for i in range(0, samples, size)]


class FittingChunk:
    """--micro-batch 0: the chunk that fits the free memory, measured once, at the first share that can
    tell (4 samples or more); None until then, or when the memory is unknown (whole shares)."""

    def __init__(self) -> None:
        self.measured, self.size, self.told = False, None, False

    def __call__(self, learner, x: torch.Tensor) -> int:
        if not self.measured and len(x) >= 4:
            free = memory_fit.free_bytes(x.device)
            per_sample = memory_fit.bytes_per_sample(learner.model, x, learner.autocast)
            self.size, self.measured = memory_fit.fitting_chunk(free, per_sample), True
            self.free_mb, self.per_sample_mb = (free or 0) / 1e6, (per_sample or 0) / 1e6
        if self.size is None or self.size >= len(x):
            return 0
        if not self.told:  # once a run: the first share that does not fit
            self.told = True
            print(f"hetero-train: a share of {len(x)} samples does not fit in the free memory"
                  f" ({self.free_mb:.0f} MB free, about {self.per_sample_mb:.2f} MB of activations a"
                  f" sample): it goes in chunks of {self.size} (--micro-batch 0 chose it; --micro-batch N"
                  " sets it)", file=sys.stderr, flush=True)  # fmt: skip
        return self.size


def chunk_size(learner, x: torch.Tensor) -> int:
    """The chunk this share goes in: --micro-batch N, or what fits the free memory (0: the whole share)."""
    return learner.recipe.micro_batch or learner.fitting_chunk(learner, x)


def forward_backward(learner, x: torch.Tensor, y: torch.Tensor, divisor: int) -> torch.Tensor:
    """Forward and backward of the share (x, y) chunk by chunk, each chunk's summed loss over `divisor`,
    gradients accumulated (the caller zeroes them first); the share's loss over `divisor`, detached."""
    parts = chunks(len(x), chunk_size(learner, x))
    total = torch.zeros((), device=x.device)
    for i, part in enumerate(parts):
        quiet = isinstance(learner.net, DDP) and i < len(parts) - 1  # the last chunk's backward syncs
        with learner.net.no_sync() if quiet else nullcontext():
            with learner.autocast():
                loss = learner.summed_loss(learner.net(x[part]), y[part]) / divisor
            learner.scaler.scale(loss).backward()
        total += loss.detach().float()
    return total
