"""Local SGD with an outer Nesterov step (`--sync local`, DiLoCo: Douillard et al., 2023).

A round: every rank takes H = `--local-steps` inner optimizer steps on its own slices of H consecutive
global batches (the global sample order, so every sample is still used once per epoch), each step on the
mean loss of its own share, with no communication at all. Then, with n_r the samples rank r processed in
the round and Δ_r = θ_start - θ_r its weight change:

    Δ = Σ n_r Δ_r / Σ n_r                 one all-reduce per round, the weighted average change
    m = μ m + Δ;  θ = θ_start - η (Δ + μ m)   the outer optimizer: SGD with Nesterov momentum

Float buffers (BatchNorm's running statistics) become the same weighted average of the ranks' buffers.
The balancer sizes the shares so that the ranks arrive at the average together: a faster rank processes
more samples, and its change weighs more. Each rank keeps its own inner optimizer state.

A round also ends at an epoch's end (the epoch's checkpoint is the averaged model), and the end of a run
averages once more for final.pt after its last snapshot, so a resumed run continues the round. A snapshot
holds the round's start weights, the outer momentum and the position inside the round (`state_dict`);
each rank's own inner weights and optimizer are the learner's part of it.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
import torch.distributed as dist

from .timing import StepTime

# DiLoCo's outer optimizer (Douillard et al., 2023): SGD with Nesterov momentum, learning rate 0.7,
# momentum 0.9 - the values the paper found best for its averaged weight changes.
OUTER_LR = 0.7
OUTER_MOMENTUM = 0.9


class Rounds:
    """The outer loop of local SGD around one model: where the round started, and the outer optimizer."""

    def __init__(self, model: torch.nn.Module, steps: int):
        self.model, self.steps = model, steps
        self.params = list(model.parameters())
        self.outer = torch.optim.SGD(self.params, lr=OUTER_LR, momentum=OUTER_MOMENTUM, nesterov=True)
        self.distributed = False  # set by the learner's wrap: with one rank there is nobody to average with
        self.restart()

    def restart(self) -> None:
        """A new round from the model's current weights."""
        self.start = [p.detach().clone() for p in self.params]
        self.done = 0  # inner steps taken in this round
        self.samples = 0  # samples this rank processed in this round

    def after_step(self, took: StepTime, samples: int, boundary: bool) -> StepTime:
        """Count an inner step on `samples`; after the round's H-th (or at a `boundary`, an epoch's end)
        the outer step. The step's time then includes the average's, as communication."""
        self.done += 1
        self.samples += samples
        if self.done < self.steps and not boundary:
            return took
        return replace(took, step_s=took.step_s + self.average())

    def average(self) -> float:
        """The outer step on the ranks' weighted average weight change; its seconds (0 with no inner step
        since the last one)."""
        if self.done == 0:
            return 0.0
        began = time.perf_counter()
        buffers = [b for b in self.model.buffers() if b.is_floating_point()]
        with torch.no_grad():
            changes = [s - p for s, p in zip(self.start, self.params, strict=True)]
            parts = [t.reshape(-1).float() for t in (*changes, *buffers)]
            one = torch.ones(1, device=parts[0].device)
            flat = torch.cat([*parts, one]) * self.samples  # the last number sums to Σ n_r
            if self.distributed:
                dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat = flat[:-1] / flat[-1]
            averaged = iter(flat.split([t.numel() for t in parts]))
            for p, start, change in zip(self.params, self.start, averaged, strict=False):
                p.copy_(start)
                p.grad = change.view(p.shape).to(p.dtype)
            for b, mean in zip(buffers, averaged, strict=False):
                b.copy_(mean.view(b.shape))
        self.outer.step()
        for p in self.params:
            p.grad = None  # the inner optimizer's gradients start from zero again
        self.restart()
        return time.perf_counter() - began

    def state_dict(self) -> dict:
        return {
            "start": [t.cpu() for t in self.start],
            "outer": self.outer.state_dict(),
            "done": self.done,
            "samples": self.samples,
        }

    def load_state_dict(self, state: dict | None) -> None:
        """The round a snapshot was in; without one (a snapshot of another mode), a round from the loaded
        weights."""
        if not state:
            self.restart()
            return
        self.start = [t.to(p.device, p.dtype) for t, p in zip(state["start"], self.params, strict=True)]
        self.outer.load_state_dict(state["outer"])
        self.done, self.samples = state["done"], state["samples"]
