"""Training-time augmentation, a pure function of (seed, epoch, sample index).

cifar10 gets the usual random crop (padding 4) and horizontal flip. Each sample's draw comes from its own
generator seeded from (seed, epoch, index), never from a shared RNG: whichever rank, worker process or
resumed run loads sample i in epoch e sees the same image, so the exact step and resume-equals-
uninterrupted hold, and the next epoch sees the sample cropped and flipped anew.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .data import MEAN, STD

# Black before normalisation: what torchvision's RandomCrop pads with, as our normalised images see it
# (cropping and flipping commute with the per-channel normalisation, so this equals padding first).
BLACK = -MEAN / STD
PAD = 4


def generator(seed: int, epoch: int, index: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(((seed * 1_000_003 + epoch) * 1_000_033 + index) % 2**63)
    return g


def crop_and_flip(x: torch.Tensor, g: torch.Generator, fill: torch.Tensor = BLACK) -> torch.Tensor:
    """A (C, H, W) image padded by PAD on each side with `fill`, cropped back to H x W at a random place,
    and mirrored left-right half of the time."""
    c, h, w = x.shape
    canvas = fill.to(x.dtype).expand(c, h + 2 * PAD, w + 2 * PAD).clone()
    canvas[:, PAD : PAD + h, PAD : PAD + w] = x
    top, left = (int(v) for v in torch.randint(2 * PAD + 1, (2,), generator=g))
    out = canvas[:, top : top + h, left : left + w]
    if float(torch.rand(1, generator=g)) < 0.5:
        out = out.flip(-1)
    return out.contiguous()


def for_dataset(name: str) -> Callable | None:
    """The augmentation a built-in data set trains with (None: its samples as they are)."""
    return crop_and_flip if name == "cifar10" else None
