"""Where a run's numbers go: a per-rank JSON file, JSON lines on stdout, and a progress display on stderr.

stdout carries only one JSON object per line (log readers such as the TUI parse container logs with no
file access); human-readable text goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from .fsutil import atomic_write_bytes


def emit(event: str, stream: TextIO | None = None, **fields) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps({"event": event, **fields}) + "\n")
    stream.flush()


class MetricsFile:
    """`logs/rank_<r>_metrics.json`: {"rank", "runs": [...], "steps": [...]}.

    A restart appends a new run and keeps every earlier record (steps carry the run they came from).
    The file is rewritten atomically, at most every `every_s` seconds and on flush().
    """

    def __init__(self, path: Path, rank: int, every_s: float = 2.0):
        self.path = path
        self.every_s = every_s
        self._last_write = 0.0
        self.data = {"rank": rank, "runs": [], "steps": []}
        if path.exists():
            try:
                self.data = json.loads(path.read_text())
            except (OSError, ValueError):
                keep = path.with_name(path.name + f".unreadable-{int(time.time())}")
                path.replace(keep)
                print(f"hetero-train: warning: {path} was unreadable; kept as {keep.name}", file=sys.stderr)

    @property
    def run_index(self) -> int:
        return len(self.data["runs"]) - 1

    def start_run(self, info: dict) -> None:
        self.data["runs"].append(info)
        self.flush()

    def add_step(self, record: dict) -> None:
        self.data["steps"].append({"run": self.run_index, **record})
        if time.monotonic() - self._last_write >= self.every_s:
            self.flush()

    def update_run(self, **fields) -> None:
        self.data["runs"][-1].update(fields)

    def flush(self) -> None:
        atomic_write_bytes(self.path, json.dumps(self.data, indent=1).encode())
        self._last_write = time.monotonic()


class Progress:
    """A one-line bar when stderr is a terminal; plain periodic lines otherwise (files, container logs)."""

    def __init__(self, total: int, rank: int, stream: TextIO | None = None, every_s: float = 10.0):
        self.total = total
        self.rank = rank
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s
        self._last: float | None = None  # the first update always prints

    def update(self, step: int, loss: float | None, samples_per_s: float, force: bool = False) -> None:
        now = time.monotonic()
        loss_text = f"loss {loss:.4f}" if loss is not None else ""
        if self.tty:
            width = 30
            filled = int(width * step / max(1, self.total))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\rrank {self.rank} [{bar}] {step}/{self.total} {loss_text} {samples_per_s:.0f} samples/s "
            )
            if step >= self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif force or self._last is None or now - self._last >= self.every_s or step >= self.total:
            pct = 100 * step / max(1, self.total)
            self.stream.write(
                f"rank {self.rank}: step {step}/{self.total} ({pct:.0f}%) {loss_text}"
                f" {samples_per_s:.0f} samples/s\n"
            )
            self.stream.flush()
            self._last = now
