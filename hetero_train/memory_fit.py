"""How many samples of a share fit in the rank's free memory at once: `--micro-batch 0` (the default) works
through a share in chunks of that size when the whole share does not fit (microbatch.py).

What a sample costs is measured, not guessed: the tensors autograd saves for backward (the activations) in
a forward pass of 2 and of 4 samples, counted through saved-tensor hooks; the difference over 2 samples is
the cost per sample (the parameters, saved alike in both passes, cancel out). Backward then needs about as
much again for the activations' gradients, so a chunk may use HEADROOM of the free memory. The probe runs on
the real model with its buffers (BatchNorm's running statistics) restored and the random generators forked
afterwards: the run is left exactly as it was.

Free memory: on a GPU what torch can still allocate there; on a CPU the smaller of the kernel's MemAvailable
and what the rank's cgroup (the container's memory limit) has left.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from .hardware import gpu_available_bytes

HEADROOM = 0.4  # of the free memory, for one chunk's saved activations (backward needs as much again)
CGROUP = Path("/sys/fs/cgroup")


def free_bytes(device: torch.device) -> int | None:
    """Memory a chunk may use on this rank's device; None when unknown."""
    if device.type == "cuda":
        return gpu_available_bytes(str(device))
    found = [b for b in (_mem_available(), _cgroup_left()) if b is not None]
    return min(found) if found else None


def _mem_available() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _own_groups() -> dict[str, str]:
    """Controller -> this process's cgroup path, from /proc/self/cgroup ("" is cgroup v2's one hierarchy)."""
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _id, controllers, path = line.split(":", 2)
        groups.update({c: path for c in controllers.split(",")})
    return groups


def _cgroup_left() -> int | None:
    """The memory limit of this process's cgroup minus what it uses; None without a limit. cgroup v1
    (a memory controller of its own) or v2 (memory.max, "max": no limit)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        groups = _own_groups()
        v1 = "memory" in groups
        folder = CGROUP / "memory" / groups["memory"].lstrip("/") if v1 else CGROUP / groups[""].lstrip("/")
        limit = (folder / ("memory.limit_in_bytes" if v1 else "memory.max")).read_text().strip()
        used = int((folder / ("memory.usage_in_bytes" if v1 else "memory.current")).read_text())
        if limit != "max" and int(limit) < 1 << 60:  # v1 writes "no limit" as a huge number
            return max(0, int(limit) - used)
    return None


def saved_bytes(model: torch.nn.Module, x: torch.Tensor, autocast) -> int:
    """Bytes of the tensors autograd saves in one forward pass of `x` (no backward)."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    devices = [x.device] if x.device.type == "cuda" else []
    hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
    with torch.random.fork_rng(devices=devices), hooks, autocast:
        model(x)
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    return total


def bytes_per_sample(model: torch.nn.Module, x: torch.Tensor, autocast_for) -> float | None:
    """Saved-activation bytes one more sample costs (from passes of 2 and 4 of `x`'s first samples);
    None when the share is too small to tell (fewer than 4 samples: it fits anyway)."""
    if len(x) < 4:
        return None
    two, four = saved_bytes(model, x[:2], autocast_for()), saved_bytes(model, x[:4], autocast_for())
    return max(1.0, (four - two) / 2)


def fitting_chunk(free: int | None, per_sample: float | None) -> int | None:
    """The most samples whose activations fit HEADROOM of `free`; None when unknown (then: whole shares)."""
    if free is None or per_sample is None:
        return None
    return max(1, int(free * HEADROOM / per_sample))
