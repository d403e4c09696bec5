"""Runs kept under artifacts/: list them, and rebuild a run's grid and raw output from its job events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .events import RunFinished, stats_of, translate
from .rungrid import RunGrid
from .runner import META_FILE


@dataclass(frozen=True)
class PastRun:
    ident: str
    path: Path
    action: str  # preflight, launch, ... (the playbook's stem for other playbooks)
    inventory: str
    started: datetime | None
    status: str  # successful, failed, canceled, error, or "unknown" (interrupted before the end)


def past_runs(artifacts: Path) -> list[PastRun]:
    """Every kept run under `artifacts`, newest first."""
    runs = []
    for path in Path(artifacts).iterdir() if Path(artifacts).is_dir() else []:
        if not path.is_dir() or path.name.startswith(".") or not (path / "job_events").is_dir():
            continue
        meta = _read_json(path / META_FILE)
        status = meta.get("status") or _read_text(path / "status") or "unknown"
        started = meta.get("started") or (path / "job_events").stat().st_mtime
        runs.append(
            PastRun(
                ident=path.name,
                path=path,
                action=meta.get("action") or path.name.rsplit("-", 1)[-1],
                inventory=meta.get("inventory", ""),
                started=datetime.fromtimestamp(started) if started else None,
                status=status,
            )
        )
    return sorted(runs, key=lambda run: (run.started or datetime.min, run.ident), reverse=True)


def load_run(path: Path) -> RunGrid:
    """The grid of a kept run, replayed from its job events; grid.raw_output holds its stdout."""
    path = Path(path)
    events = []
    for file in (path / "job_events").glob("*.json"):
        event = _read_json(file)
        if event:
            events.append(event)
    events.sort(key=lambda event: event.get("counter", 0))
    grid = RunGrid()
    stats: dict = {}
    for raw in events:
        for event in translate(raw):
            grid.apply(event)
        if raw.get("event") == "playbook_on_stats":
            stats = stats_of(raw)
    meta = _read_json(path / META_FILE)
    status = meta.get("status") or (_read_text(path / "status") or "unknown")
    rc_text = _read_text(path / "rc")
    rc = (
        meta.get("rc")
        if "rc" in meta
        else (int(rc_text) if rc_text and rc_text.lstrip("-").isdigit() else None)
    )
    grid.apply(RunFinished(status=status, rc=rc, stats=stats))
    return grid


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
