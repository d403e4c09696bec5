"""The learner: the model, its DDP wrapper, optimizer and schedule, and the exact step they take together.

Each step takes samples [offset, offset+B) of the epoch's global order; this rank trains on its share,
divides its summed loss by B, and DDP all-reduces gradients with SUM - so the step is exactly the one a
single process would take on all B samples, whatever the split.
"""

from __future__ import annotations

import copy
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from . import local_sgd, microbatch, powersgd_state, precision, sync
from .optim import Optim, schedule
from .optim import build as build_optimizer
from .precision import AUTOCAST
from .timing import StepTime, StepTimer

# Long enough to span several CPU-quota periods (100 ms each: a burst inside one is a few % of it), short
# enough to cost each rank, once a run and one rank at a time, about half a second.
ALONE_PROBE_S = 0.5


@dataclass(frozen=True)
class Recipe:
    """How a step is computed and combined, beyond the model and optimizer."""

    per_sample_loss: Callable | None = None  # your own (usercode.py); None: cross-entropy
    sync: tuple[str, int, int] = ("exact", 1, 10)  # mode, PowerSGD rank, PowerSGD warm-up steps: sync.py
    precision: str = "fp32"  # this rank's: fp32, bf16 or fp16 (precision.py)
    scale_loss: bool = False  # a GradScaler: some rank of the world runs fp16
    local_steps: int = 8  # sync "local": inner steps per round (local_sgd.py)
    micro_batch: int = 0  # chunks of at most this many samples (microbatch.py); 0: what fits in memory


class Learner:
    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        distributed: bool,
        lr: float,
        schedule_steps: int,
        recipe: Recipe | None = None,
        optim: Optim | None = None,
    ):
        self.device = device
        self.recipe = recipe or Recipe()
        self.model = precision.prepare_gpu(model.to(device), device)
        # Disabled (a pass-through) unless some rank of the world runs fp16: precision.py says why all then.
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.recipe.scale_loss)
        self.timer = StepTimer(device)
        self.net = self.model
        local = self.recipe.sync[0] == "local"
        self.rounds = local_sgd.Rounds(self.model, self.recipe.local_steps) if local else None
        self.wrap(distributed)
        optim = optim or Optim()  # sgd, no weight decay, no warm-up
        self.optimizer = build_optimizer(optim, list(self.model.parameters()), lr)
        self.scheduler = schedule(self.optimizer, optim.warmup_steps, schedule_steps)
        self.bytes_per_sample: float | None = None  # GPU memory one sample takes (caps a rank's share)
        self.fitting_chunk = microbatch.FittingChunk()  # --micro-batch 0: what fits the free memory

    def wrap(self, distributed: bool) -> None:
        """DDP around the model on the current process group (again after a world is re-formed: the old
        wrapper goes first, with the gradient hooks it put on the parameters)."""
        self.net = self.model
        self.sync: sync.SyncState | None = None  # the comm hook's state, while there is a DDP wrapper
        gc.collect()  # the old DDP's reducer removes its autograd hooks when it is freed
        mode, rank, warmup = self.recipe.sync
        if self.rounds is not None:  # local SGD averages weights every few steps, not gradients: no DDP
            self.rounds.distributed = distributed
            self.sync = sync.SyncState(self.timer, dist.get_world_size() if distributed else 1, mode=mode)
        elif distributed:
            self.net = DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            self.sync = sync.register(self.net, mode, self.timer, dist.get_world_size(), rank, warmup)

    def to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = precision.to_layout(x.to(self.device, non_blocking=True), self.device)
        return x, y.to(self.device, non_blocking=True)

    def step(self, x: torch.Tensor, y: torch.Tensor, global_batch: int, start: float):
        """One update on this rank's share (x, y) of a global batch; `start` is when the step began.

        Returns the rank's part of the step's loss (the ranks' parts sum to it) and the step's timing.
        """
        self.timer.start()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            base = torch.cuda.memory_allocated(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        # local: an inner step on the mean over this rank's own share (local_sgd.py)
        divisor = len(x) if self.rounds is not None else global_batch
        loss = microbatch.forward_backward(self, x, y, divisor) * (divisor / global_batch)
        backward_done = time.perf_counter()
        self.scaler.step(self.optimizer)  # skipped, alike on every rank, when the summed gradient overflowed
        self.scaler.update()
        self.scheduler.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            held = min(len(x), microbatch.chunk_size(self, x) or len(x))  # one chunk's activations at a time
            self.bytes_per_sample = (torch.cuda.max_memory_allocated(self.device) - base) / held
        end = time.perf_counter()
        compute = self.timer.compute_s(start, backward_done, end)
        return loss, StepTime(compute_s=compute, step_s=end - start)

    def summed_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The sum of the per-sample losses: divided by the global batch, the ranks' parts add up to the
        single-process step's mean, whatever the split."""
        if self.recipe.per_sample_loss is None:
            return F.cross_entropy(outputs, targets, reduction="sum")
        return self.recipe.per_sample_loss(outputs, targets).sum()

    def autocast(self):
        """The forward's arithmetic: autocast to bf16 or fp16, or a no-op in fp32 (precision.py)."""
        dtype = AUTOCAST.get(self.recipe.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def time_alone(self, x: torch.Tensor, y: torch.Tensor, min_seconds: float = ALONE_PROBE_S) -> float:
        """Seconds of a step's compute on (x, y) - forward, backward, optimizer - with no all-reduce running:
        what this share costs when nothing else competes for the machine (gloo's threads share a CPU rank's
        cores during a real step). On a copy of the model and optimizer (one deepcopy, so the copy's
        optimizer holds the copy's parameters), with the RNG forked: no weight, buffer (BatchNorm's running
        stats), momentum, gradient or random number of the run changes.

        The mean of the passes after a warm-up one, repeated for at least `min_seconds`: a container's CPU
        quota is enforced per 100 ms period, so a pass of a few milliseconds runs at a whole core's speed
        and the fastest of two such passes shows a 0.4-CPU laptop as fast as any - sustained speed is
        what a rank alone would have."""
        probe, optimizer = copy.deepcopy((self.model, self.optimizer))
        took: list[float] = []
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            while len(took) < 2 or sum(took[1:]) < min_seconds:
                start = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                with self.autocast():
                    loss = self.summed_loss(probe(x), y)
                loss.backward()
                optimizer.step()
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                took.append(time.perf_counter() - start)
        return sum(took[1:]) / (len(took) - 1)

    @property
    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sync": powersgd_state.state_dict(self.sync),  # PowerSGD's error feedback
            "rounds": self.rounds.state_dict() if self.rounds is not None else None,  # local SGD's
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") and self.scaler.is_enabled():  # a snapshot of an fp32 world has none
            self.scaler.load_state_dict(state["scaler"])
        powersgd_state.load_state_dict(self.sync, state.get("sync"), self.device)
        if self.rounds is not None:
            self.rounds.load_state_dict(state.get("rounds"))
