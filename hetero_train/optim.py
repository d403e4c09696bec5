"""The optimizer and its learning-rate schedule: sgd, adamw or your own (usercode.py), a linear warm-up,
then a cosine decay over the --epochs schedule.

Both live in the learner and in every snapshot (optimizer state, scheduler position), so a resumed run
takes the very steps of an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import usercode
from .config import Config
from .settings import is_reference


@dataclass(frozen=True)
class Optim:
    name: str = "sgd"  # sgd, adamw, or your own module:callable
    weight_decay: float = 0.0
    warmup_steps: int = 0

    @classmethod
    def of(cls, cfg: Config) -> Optim:
        return cls(cfg.optimizer, cfg.weight_decay, cfg.warmup_steps)


def build(optim: Optim, params: list, lr: float) -> torch.optim.Optimizer:
    if is_reference(optim.name):
        return usercode.build_optimizer(optim.name, params, lr, optim.weight_decay)
    if optim.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=optim.weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=optim.weight_decay)


def check(optim: Optim, model: torch.nn.Module, lr: float) -> None:
    """Your own optimizer, built once on the model's parameters and dropped: a contract break is one line
    before any file is written (building an optimizer changes no parameter)."""
    if is_reference(optim.name):
        build(optim, list(model.parameters()), lr)


class WarmupCosine:
    """The factor on the peak learning rate before step `step` + 1: (step + 1) / W during the W warm-up
    steps, then a cosine from 1 to 0 over the rest of the schedule. A plain object, so the scheduler's state
    (and a snapshot) holds it."""

    def __init__(self, warmup_steps: int, schedule_steps: int):
        self.warmup_steps = warmup_steps
        self.schedule_steps = schedule_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay = max(1, self.schedule_steps - self.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - self.warmup_steps) / decay)))


def schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, schedule_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup_steps, schedule_steps))
