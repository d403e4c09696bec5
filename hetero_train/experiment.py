"""An experiment's directories, and the files that describe its run: the hardware profile and run record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .config import Config
from .fsutil import atomic_write_bytes
from .hardware import Hardware
from .rendezvous import World


class Experiment:
    """The experiment's directories; created only once every input has been checked."""

    def __init__(self, cfg: Config, rank: int):
        self.root = cfg.experiment_dir
        self.logs = self.root / "logs"
        self.configs = self.root / "configs"
        self.checkpoints = self.root / "checkpoints"
        self.profiles = self.root / "profiles"
        self.rank = rank
        self.snapshots = self.checkpoints / f"rank_{rank}"  # this rank's resumable snapshots

    def create(self) -> None:
        for d in (self.logs, self.configs, self.checkpoints):
            d.mkdir(parents=True, exist_ok=True)


def write_profiles(exp: Experiment, world: World, batch: int, speeds: list | None = None) -> None:
    """configs/gpu_profiles.json: what every rank has and how fast it trained (reusable by --gpu-profiles)."""
    ranks = []
    for r, rec in enumerate(world.records):
        entry = {"rank": r, **rec}
        if speeds is not None and speeds[r] is not None:
            entry["measured_samples_per_s"] = round(speeds[r], 2)
        ranks.append(entry)
    doc = {"world_size": world.size, "backend": world.backend, "global_batch": batch, "ranks": ranks}
    atomic_write_bytes(exp.configs / "gpu_profiles.json", json.dumps(doc, indent=1).encode())


def run_record(
    cfg: Config, world: World, hw: Hardware, batch: int, shares: list[int], policy: str, resumed: int | None
) -> dict:
    """The run's entry in the metrics file: when, from which snapshot, on what, with which settings."""
    return {
        "started": now(),
        "resumed_from_step": resumed,
        "backend": world.backend,
        "world_size": world.size,
        "global_batch": batch,
        "shares": shares,
        "policy": policy,
        "hardware": hw.record(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(cfg).items() if k != "dist"},
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
