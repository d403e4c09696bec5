"""Collected experiments made for tests: the ranks' metrics files written by the trainer's own MetricsFile,
laid out as playbooks/collect.yml leaves them (experiments/<name>/<host>/logs/rank_<r>_metrics.json)."""

from __future__ import annotations

from pathlib import Path

from hetero_train.metrics import MetricsFile

STARTED = "2026-11-30T23:04:29+00:00"


def step_record(rank: int, step: int, share: int, loss: float, compute_s: float, comm_s: float) -> dict:
    step_s = compute_s + comm_s
    return {
        "time": 1_796_000_000.0 + step,
        "rank": rank,
        "step": step,
        "epoch": 0,
        "loss": loss,
        "share": share,
        "compute_s": compute_s,
        "comm_s": comm_s,
        "step_s": step_s,
        "samples_per_s": round(share / step_s, 2),
        "global_samples_per_s": round(64 / step_s, 2),
        "device": "cpu",
    }


def write_experiment(
    root: Path,
    name: str,
    *,
    shares: dict[int, int],
    steps: int = 10,
    sync: str = "exact",
    started: str = STARTED,
    evaluate_at: int | None = None,
    left_out: int | None = None,
) -> Path:
    """One experiment under root/name: rank r on host lap<r+1>. Rank `left_out` stops halfway, and the
    others' last forecast keeps the remaining ranks (what the report reads as "ranks at the end")."""
    everyone = sorted(shares)
    kept = [r for r in everyone if r != left_out]
    for rank, share in shares.items():
        metrics = MetricsFile(root / name / f"lap{rank + 1}" / "logs" / f"rank_{rank}_metrics.json", rank)
        metrics.start_run({"started": started, "world_size": len(shares), "config": {"sync": sync}})
        last = steps // 2 if rank == left_out else steps
        for step in range(1, last + 1):
            record = step_record(rank, step, share, round(2.0 / step, 6), 0.1 * (rank + 1), 0.05)
            if step == evaluate_at:
                record.update(eval_loss=round(2.5 / step, 6), eval_accuracy=0.5, eval_samples=100)
            metrics.add_step(record)
        if left_out is not None and rank != left_out:
            metrics.update_run(
                forecast={"ranks": kept, "alone": {}, "predicted_samples_per_s": 100.0, "step": steps // 2}
            )
        metrics.flush()
    return root / name


def two_experiments(root: Path) -> None:
    """An older exact one with 2 ranks, a newer PowerSGD one that left rank 2 out."""
    write_experiment(root, "cnn-exact", shares={0: 40, 1: 24}, steps=6, started="2026-11-29T10:00:00+00:00")
    write_experiment(
        root, "cnn-psgd", shares={0: 32, 1: 24, 2: 8}, steps=8, sync="powersgd", left_out=2, evaluate_at=8
    )
