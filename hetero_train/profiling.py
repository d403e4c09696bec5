"""--enable-profiling: a torch.profiler trace of a few steps per rank (chrome://tracing, Perfetto)."""

from __future__ import annotations

from pathlib import Path

import torch

from .metrics import emit


class StepProfiler:
    def __init__(self, enabled: bool, path: Path, device: torch.device, first_step: int = 1, steps: int = 3):
        self.enabled = enabled
        self.path = path
        self.device = device
        self.first_step = first_step
        self.steps = steps
        self.prof = None
        self.done = False

    def before_step(self, step: int) -> None:
        # Skip the first step (allocation, DDP bucket set-up) unless it is the only one we get.
        if not self.enabled or self.done or self.prof is not None or step < self.first_step:
            return
        activities = [torch.profiler.ProfilerActivity.CPU]
        if self.device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.prof = torch.profiler.profile(activities=activities, record_shapes=True)
        self.prof.start()
        self.started_at = step

    def after_step(self, step: int) -> None:
        if self.prof is not None and step + 1 >= self.started_at + self.steps:
            self.close()

    def close(self) -> None:
        if self.prof is None:
            return
        self.prof.stop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.prof.export_chrome_trace(str(self.path))
        emit("profile", path=str(self.path))
        self.prof, self.done = None, True
