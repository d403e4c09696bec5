"""The 'alone' probe (Learner.time_alone) measures the sustained speed a rank would have by itself. A
container's CPU quota lets a few milliseconds run at a whole core's speed before the period's budget is
spent: a probe that kept the fastest of two short passes showed a 0.4-CPU laptop as fast as any, and the
planner kept the wrong laptop alone."""

from __future__ import annotations

import time

import torch
from torch import nn

from hetero_train.learner import Learner, Recipe


class QuotaLimited(nn.Module):
    """A model on a quota-limited CPU, faked: the first two forward passes run in the period's burst (no
    wait), every later one is throttled (10 ms)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > 2:
            time.sleep(0.01)
        return self.linear(x)


def test_the_probe_reports_the_throttled_speed_not_the_burst_and_leaves_the_run_untouched():
    torch.manual_seed(0)
    learner = Learner(QuotaLimited(), torch.device("cpu"), False, 0.1, 10, Recipe())
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    x, y = torch.randn(8, 4), torch.randint(2, (8,))
    took = learner.time_alone(x, y, min_seconds=0.2)
    assert took > 0.008  # the sustained 10 ms a step, not the sub-millisecond burst
    assert all(torch.equal(before[k], v) for k, v in learner.model.state_dict().items())
    assert learner.model.calls == 0  # the probe ran on a copy
