"""Micro-batching (`--micro-batch N`): a rank works through its share in chunks of at most N samples.

Each chunk's loss is its summed per-sample loss over the same divisor as the whole share's, and backward
adds each chunk's gradient to the last: their sum is the share's gradient, so the step is the one without
micro-batching (up to the order of float additions). The gradients go to the other ranks once, after the
last chunk: DDP's `no_sync` keeps the chunks before it local. Only one chunk's activations are held at a
time, so a large global batch fits a small machine - and a large global batch amortises communication.

A share smaller than N is one chunk: with balancing the shares move, so N is a cap, not a size.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch.nn.parallel import DistributedDataParallel as DDP


def chunks(samples: int, micro_batch: int) -> list[slice]:
    """Consecutive slices of at most `micro_batch` samples (0: one slice, the whole share)."""
    size = micro_batch or samples
    return [slice(i, min(i + size, samples)) for i in range(0, samples, size)]


def forward_backward(learner, x: torch.Tensor, y: torch.Tensor, divisor: int) -> torch.Tensor:
    """Forward and backward of the share (x, y) chunk by chunk, each chunk's summed loss over `divisor`,
    gradients accumulated (the caller zeroes them first); the share's loss over `divisor`, detached."""
    parts = chunks(len(x), learner.recipe.micro_batch)
    total = torch.zeros((), device=x.device)
    for i, part in enumerate(parts):
        quiet = isinstance(learner.net, DDP) and i < len(parts) - 1  # the last chunk's backward syncs
        with learner.net.no_sync() if quiet else nullcontext():
            with learner.autocast():
                loss = learner.summed_loss(learner.net(x[part]), y[part]) / divisor
            learner.scaler.scale(loss).backward()
        total += loss.detach().float()
    return total
