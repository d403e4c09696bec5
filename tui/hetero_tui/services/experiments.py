"""The collected experiments side by side: one row each, from its ranks' metrics files (hetero_train's
collected.py finds them), with the figures `hetero-report` prints (its per-rank summary), newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hetero_train import collected
from hetero_train.report import _rank_summary as rank_summary  # the report's figures, not a second version


@dataclass(frozen=True)
class ExperimentRow:
    name: str
    path: Path
    started: str = ""  # the last launch's start, UTC, "2026-11-30 23:04"
    ranks: str = ""  # "3", or "2 of 3" when the planner left ranks out
    sync: str = ""  # the sync mode (exact, powersgd, local, ...)
    steps: int = 0
    loss: float | None = None  # the final loss (the rank that went furthest)
    samples_per_s: float | None = None  # the cluster's, measured at the end
    problem: str = ""  # why its files could not be read


def rows(root: Path) -> list[ExperimentRow]:
    """Every experiment under root, newest first (unreadable ones last, saying why)."""
    out = [row(experiment) for experiment in collected.find([root])] if Path(root).is_dir() else []
    return sorted(out, key=lambda r: (not r.problem, r.started), reverse=True)


def row(experiment: collected.Experiment) -> ExperimentRow:
    try:
        summaries = [rank_summary(path) for _rank, path in sorted(experiment.files.items())]
        data = experiment.ranks()
    except (OSError, ValueError, KeyError, TypeError) as err:
        return ExperimentRow(experiment.name, experiment.path, problem=f"unreadable: {err}")
    last = max(summaries, key=lambda s: s["step"])  # a rank left out stopped earlier than the others
    measured = last["world_samples_per_s"][-1] or sum(s["samples_per_s"] for s in summaries)
    runs = data[last["rank"]].get("runs") or [{}]
    at_end = len(last["forecast"]["ranks"]) if last["forecast"] else len(summaries)
    return ExperimentRow(
        experiment.name,
        experiment.path,
        started=_minute(runs[-1].get("started")),
        ranks=str(at_end) if at_end == len(summaries) else f"{at_end} of {len(summaries)}",
        sync=str((runs[-1].get("config") or {}).get("sync") or "-"),  # runs from before --sync: "-"
        steps=last["step"],
        loss=last["loss"],
        samples_per_s=measured or None,
    )


def _minute(stamp: str | None) -> str:
    """The trainer's ISO time (UTC) to the minute; "" when absent or unreadable."""
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M") if stamp else ""
    except ValueError:
        return ""
