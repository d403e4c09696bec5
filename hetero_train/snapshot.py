"""Per-rank snapshots: written atomically, the last few kept, resumed at the newest step all ranks hold.

DDP replicas are identical, so each rank keeps its own copy on its own disk; no shared filesystem is
needed and losing one machine's disk loses nothing.
"""

from __future__ import annotations

import re
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from .fsutil import atomic_write

_NAME = re.compile(r"^step_(\d+)\.pt$")


class SnapshotDir:
    def __init__(self, directory: Path, keep: int = 3):
        self.directory = directory
        self.keep = keep

    def path(self, step: int) -> Path:
        return self.directory / f"step_{step:08d}.pt"

    def steps(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        found = (_NAME.match(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, step: int, state: dict) -> Path:
        path = self.path(step)
        atomic_write(path, lambda f: torch.save(state, f))
        for old in self.steps()[: -self.keep]:
            self.path(old).unlink(missing_ok=True)
        return path

    def load(self, step: int) -> dict | None:
        """The snapshot, or None (with a warning, the file set aside) if it is truncated or corrupt."""
        path = self.path(step)
        try:
            _check_crcs(path)
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # a truncated zip, a pickle error, ...: all mean "unusable"
            bad = path.with_name(path.name + ".corrupt")
            path.replace(bad)
            print(
                f"hetero-train: warning: snapshot {path} is unreadable ({type(e).__name__}); "
                f"moved to {bad.name}, using an older one",
                file=sys.stderr,
                flush=True,
            )
            return None


def _check_crcs(path: Path) -> None:
    """torch.load does not verify the CRC32 its zip format stores per record, so flipped bits would load
    silently as wrong weights; zipfile's testzip checks every record (and a truncated file is no zip)."""
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
    if bad is not None:
        raise ValueError(f"checksum mismatch in record {bad}")


def agree_and_load(snapshots: SnapshotDir, all_gather: Callable[[object], list]) -> tuple[int, dict] | None:
    """Find the newest step every rank holds a good snapshot of, load it; None if there is none.

    Each round all ranks share the steps they hold, try the newest common one, and share whether it
    loaded. A corrupt file is set aside, so the next round falls back to an older step.
    """
    while True:
        held = all_gather(snapshots.steps())
        common = set(held[0]).intersection(*map(set, held[1:]))
        if not common:
            return None
        step = max(common)
        state = snapshots.load(step)
        if all(all_gather(state is not None)):
            return step, state
