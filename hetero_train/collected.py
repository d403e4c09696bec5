"""Collected experiments on the controller: where their ranks' metrics files are, and what they hold.

playbooks/collect.yml brings each host's experiments/<name>/ back into experiments/<name>/<host>/, so an
experiment's ranks are spread over its hosts' folders: <name>/<host>/logs/rank_<r>_metrics.json. An
experiment read in place on a host (or by `make demo`) has them in <name>/logs/. Both are found here, for
the TensorBoard export and the TUI's experiments screen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# The trainer's per-rank metrics file (metrics.py); collect.yml's backups (<file>.<timestamp>~) do not match.
METRICS_FILE = re.compile(r"rank_(\d+)_metrics\.json")
PATTERNS = ("logs/rank_*_metrics.json", "*/logs/rank_*_metrics.json")


@dataclass
class Experiment:
    name: str
    path: Path
    files: dict[int, Path] = field(default_factory=dict)  # rank -> its metrics file

    def ranks(self) -> dict[int, dict]:
        """rank -> the metrics file's content ({"rank", "runs", "steps"}), in rank order."""
        out = {}
        for rank in sorted(self.files):
            try:
                out[rank] = json.loads(self.files[rank].read_text())
            except ValueError as err:
                raise ValueError(f"{self.files[rank]}: not a metrics file ({err})") from err
        return out


def metrics_files(folder: Path) -> dict[int, Path]:
    """rank -> metrics file of the experiment in `folder`. A rank found in two host folders (it moved
    between launches) is taken from the newer file."""
    found: dict[int, Path] = {}
    for pattern in PATTERNS:
        for path in Path(folder).glob(pattern):
            match = METRICS_FILE.fullmatch(path.name)
            if not match:
                continue
            rank = int(match.group(1))
            if rank not in found or path.stat().st_mtime > found[rank].stat().st_mtime:
                found[rank] = path
    return found


def find(paths: list[Path]) -> list[Experiment]:
    """The experiments each path is, or holds one level down (experiments/: every collected one), by name.
    A path that is neither gives nothing."""
    out = []
    for path in map(Path, paths):
        files = metrics_files(path) if path.is_dir() else {}
        if files:
            out.append(Experiment(path.name, path, files))
            continue
        children = sorted(child for child in path.iterdir() if child.is_dir()) if path.is_dir() else []
        for child in children:
            files = metrics_files(child)
            if files:
                out.append(Experiment(child.name, child, files))
    return out
