"""What this rank really has: CUDA devices, and CPU cores as the container sees them.

A container limited with `docker run --cpus 1.5` still sees every core of the host in os.cpu_count(); the
limit lives in the cgroup CPU quota (v1: cpu.cfs_quota_us / cpu.cfs_period_us, v2: cpu.max). Running more
torch threads than the quota allows only makes the kernel throttle them, so the thread count follows it.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_GPU_BATCH = 64  # the original scripts' per-rank batch on a GPU ...
DEFAULT_CPU_BATCH = 32  # ... and on a CPU


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_mb: int
    capability: str


@dataclass(frozen=True)
class Hardware:
    hostname: str
    device: str  # "cuda:<i>" or "cpu"
    gpus: list[Gpu] = field(default_factory=list)
    cpu_affinity: int = 1
    cpu_quota: float | None = None  # cores allowed by the cgroup, None if unlimited
    cpu_cores: float = 1.0  # what this rank can really use
    torch_threads: int = 1
    cpu_bf16_speedup: float | None = None  # bf16 autocast's speed over fp32's here (precision.probe_cpu)

    @property
    def has_gpu(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def default_batch(self) -> int:
        return DEFAULT_GPU_BATCH if self.has_gpu else DEFAULT_CPU_BATCH

    def record(self) -> dict:
        """The small record every rank shares with the others (backend choice, gpu_profiles.json)."""
        d = asdict(self)
        d["has_gpu"] = self.has_gpu
        d["default_batch"] = self.default_batch
        return d

    def summary(self) -> str:
        quota = f"quota {self.cpu_quota:g}" if self.cpu_quota is not None else "no quota"
        cpu = f"cpu {self.cpu_cores:g} cores ({quota}, affinity {self.cpu_affinity})"
        cpu += f", {self.torch_threads} torch thread" + ("s" if self.torch_threads != 1 else "")
        if self.has_gpu:
            g = self.gpus[int(self.device.split(":")[1])]
            return f"{self.hostname}: {self.device} {g.name} {g.memory_mb} MB cc {g.capability}; {cpu}"
        return f"{self.hostname}: no GPU; {cpu}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _quota_v2(text: str) -> float | None:
    quota, _, period = text.partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def _quota_v1(quota_text: str, period_text: str | None) -> float | None:
    quota = int(quota_text)
    if quota <= 0 or not period_text:  # -1 means unlimited
        return None
    return quota / int(period_text)


def cgroup_cpu_quota(
    root: Path | str = "/sys/fs/cgroup", proc_cgroup: Path | str = "/proc/self/cgroup"
) -> float | None:
    """CPU cores allowed by this process's cgroup (v1 or v2), or None when unlimited or unknown.

    The process's own cgroup path is tried first (a process put in a cgroup by hand), then the mount
    root (inside a container the cgroup mount already is the container's own group).
    """
    root = Path(root)
    lines = (_read(Path(proc_cgroup)) or "").splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":  # cgroup v2 unified hierarchy
            for base in (root, root / "unified"):
                for d in (base / rel, base):
                    text = _read(d / "cpu.max")
                    if text is not None:
                        return _quota_v2(text)
        elif "cpu" in controllers.split(","):
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                for d in (mount / rel, mount):
                    quota = _read(d / "cpu.cfs_quota_us")
                    if quota is not None:
                        return _quota_v1(quota, _read(d / "cpu.cfs_period_us"))
    return None


def cpu_affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def threads_for(cores: float, env_threads: str | None) -> int:
    """OMP_NUM_THREADS wins if set; otherwise as many threads as the quota can keep busy (rounded up)."""
    if env_threads:
        try:
            return max(1, int(env_threads))
        except ValueError:
            pass
    return max(1, math.ceil(cores - 1e-9))


def detect_gpus() -> list[Gpu]:
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        gpus.append(Gpu(i, p.name, int(p.total_memory // 2**20), f"{p.major}.{p.minor}"))
    return gpus


def device_for(local_rank: int, gpus: list[Gpu]) -> str:
    # A rank container sees exactly its own GPU (index 0); several ranks sharing a host pick by local rank.
    return f"cuda:{local_rank % len(gpus)}" if gpus else "cpu"


def gpu_available_bytes(device: str) -> int | None:
    """Memory a bigger share could use on the rank's GPU: free, plus what torch's cache holds unused.

    None on a CPU rank. The adaptive policy caps a GPU rank's share by it.
    """
    if not device.startswith("cuda"):
        return None
    import torch

    dev = torch.device(device)
    free, _total = torch.cuda.mem_get_info(dev)
    return int(free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))


def detect(local_rank: int) -> Hardware:
    gpus = detect_gpus()
    affinity = cpu_affinity()
    quota = cgroup_cpu_quota()
    cores = min(float(affinity), quota) if quota is not None else float(affinity)
    return Hardware(
        hostname=socket.gethostname(),
        device=device_for(local_rank, gpus),
        gpus=gpus,
        cpu_affinity=affinity,
        cpu_quota=quota,
        cpu_cores=round(cores, 3),
        torch_threads=threads_for(cores, os.environ.get("OMP_NUM_THREADS")),
    )


def apply(hw: Hardware) -> None:
    """Make torch use the detected thread count, and select the rank's GPU."""
    import torch

    torch.set_num_threads(hw.torch_threads)
    if hw.has_gpu:
        torch.cuda.set_device(torch.device(hw.device))
