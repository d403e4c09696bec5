"""`hetero-report --tensorboard DIR [EXPERIMENT ...]`: collected experiments as TensorBoard runs.

One run per experiment (DIR/<experiment>/), one tag per rank and figure (`samples_per_s/rank_0`, ...) from
the ranks' metrics files, against the step and at the time the step was logged. EXPERIMENT is an experiment
folder or one holding several (default: experiments/, where playbooks/collect.yml brings them). Exporting
again replaces a run's event files, never adds a second copy.

The writer is torch's SummaryWriter, which needs the `tensorboard` package: on the controller only (the
`control` extra), imported here when asked for, so the trainer image stays without it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import collected

# The step record's fields that become tags, where a record has them (eval_* only on evaluated steps).
FIELDS = ("samples_per_s", "share", "loss", "compute_s", "comm_s", "eval_loss", "eval_accuracy")
USAGE = "usage: hetero-report --tensorboard DIR [EXPERIMENT ...]   (default EXPERIMENT: experiments)"
MISSING = (
    "hetero-report --tensorboard: the tensorboard package is not installed here:"
    " pip install tensorboard (or install the control extra: pip install -e '.[control]')"
)


class ExportError(Exception):
    """Nothing was written: the message says why and what to do."""


def summary_writer():
    """torch's SummaryWriter class, or ExportError when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ExportError(MISSING) from err
    return SummaryWriter


def latest_per_step(steps: list[dict]) -> list[dict]:
    """One record per step, in step order: a resumed run logs again the steps after its snapshot, and its
    records (the later ones) are the ones that count."""
    by_step = {record["step"]: record for record in steps if isinstance(record.get("step"), int)}
    return [by_step[step] for step in sorted(by_step)]


def scalars(ranks: dict[int, dict]):
    """(tag, value, step, walltime) for every figure every rank logged."""
    for rank, data in ranks.items():
        for record in latest_per_step(data.get("steps", [])):
            for name in FIELDS:
                value = record.get(name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    yield f"{name}/rank_{rank}", float(value), record["step"], record.get("time")


def export(experiments: list[collected.Experiment], logdir: Path) -> list[Path]:
    """Write each experiment's run under logdir; returns the run folders."""
    writer_class = summary_writer()
    loaded = [(experiment, experiment.ranks()) for experiment in experiments]  # every file read first
    runs = []
    for experiment, ranks in loaded:
        run = Path(logdir) / experiment.name
        for old in run.glob("events.out.tfevents.*"):
            old.unlink()
        writer = writer_class(log_dir=str(run))
        try:
            for tag, value, step, walltime in scalars(ranks):
                writer.add_scalar(tag, value, step, walltime=walltime)
        finally:
            writer.close()
        runs.append(run)
    return runs


def main(argv: list[str]) -> int:
    """argv: DIR, then the experiments (the words after --tensorboard)."""
    if not argv or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    logdir, sources = Path(argv[0]), [Path(p) for p in argv[1:]] or [Path("experiments")]
    experiments = collected.find(sources)
    names = [experiment.name for experiment in experiments]
    try:
        if not experiments:
            where = ", ".join(map(str, sources))
            raise ExportError(
                f"hetero-report --tensorboard: no experiment with logs/rank_<r>_metrics.json under {where}:"
                " collect one first (playbooks/collect.yml) or name its folder"
            )
        if len(set(names)) < len(names):
            raise ExportError(
                f"hetero-report --tensorboard: two experiments are named alike: {sorted(names)}"
            )
        runs = export(experiments, logdir)
    except (ExportError, OSError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    print(f"wrote {len(runs)} run(s) to {logdir}: {', '.join(names)}")
    print(f"compare them: tensorboard --logdir {logdir}")
    return 0
