"""Where a step's time goes (local compute vs. waiting and all-reduce), and the running totals of it.

The balancer reads a rank's speed since the last re-plan; gpu_profiles.json records its speed over the
whole run. Both are a Tally, and one Throughput.add feeds both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch


class StepTimer:
    """Splits a step into local compute and communication/wait, using the DDP comm hook's calls.

    The hook of the last gradient bucket fires when this rank's backward compute is done; what follows
    until backward returns is waiting for the slower ranks and the all-reduce itself.
    """

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.last_hook: float | None = None
        self.hook_event = None

    def start(self) -> None:
        self.last_hook = None
        self.hook_event = None
        if self.cuda:
            self.start_event = torch.cuda.Event(enable_timing=True)
            self.start_event.record()

    def hook_called(self) -> None:
        self.last_hook = time.perf_counter()
        if self.cuda:  # CUDA runs asynchronously: time the GPU work with events, not the host clock
            self.hook_event = torch.cuda.Event(enable_timing=True)
            self.hook_event.record()

    def gpu_compute_s(self) -> float | None:
        if not self.cuda or self.hook_event is None:
            return None
        self.hook_event.synchronize()
        return self.start_event.elapsed_time(self.hook_event) / 1000

    def compute_s(self, start: float, backward_done: float, end: float) -> float:
        """The step's local compute: all of it but the wait between the last hook and backward's return.

        Without a hook (one rank, no DDP) backward's return stands in for it.
        """
        hook = self.last_hook or backward_done
        return self.gpu_compute_s() or (hook - start) + (end - backward_done)


@dataclass(frozen=True)
class StepTime:
    compute_s: float
    step_s: float  # the whole step, from picking its samples to the optimizer's update

    @property
    def comm_s(self) -> float:
        """Waiting for slower ranks plus the all-reduce time that backward did not hide."""
        return max(0.0, self.step_s - self.compute_s)

    def fields(self, share: int, global_batch: int) -> dict:
        """The step event's timing fields, for this rank's share of a global batch."""
        return {
            "compute_s": round(self.compute_s, 6),
            "comm_s": round(self.comm_s, 6),
            "step_s": round(self.step_s, 6),
            "samples_per_s": round(share / self.step_s, 2),
            "global_samples_per_s": round(global_batch / self.step_s, 2),
        }


@dataclass
class Tally:
    """Samples this rank trained on, the local compute seconds they took, and the seconds it then spent
    waiting and communicating, over a number of steps (the cost model wants per-step means)."""

    samples: int = 0
    compute_s: float = 0.0
    comm_s: float = 0.0
    steps: int = 0

    def add(self, samples: int, compute_s: float, comm_s: float = 0.0) -> None:
        self.samples += samples
        self.compute_s += compute_s
        self.comm_s += comm_s
        self.steps += 1

    @property
    def samples_per_s(self) -> float | None:
        return self.samples / self.compute_s if self.compute_s else None


class Throughput:
    """This rank's tallies: since the last re-plan (the window) and over the whole run."""

    def __init__(self) -> None:
        self.window = Tally()
        self.run = Tally()

    def add(self, samples: int, compute_s: float, comm_s: float = 0.0) -> None:
        self.window.add(samples, compute_s, comm_s)
        self.run.add(samples, compute_s, comm_s)

    def take_window(self) -> Tally:
        """The window so far; the next one starts empty."""
        window, self.window = self.window, Tally()
        return window


def memory_mb(device: torch.device) -> float:
    """Peak GPU memory of the step on a GPU, the process's resident memory on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20  # resident pages
    except OSError:
        return 0.0
