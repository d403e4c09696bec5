"""`hetero-report <experiment-dir>` (or `python -m hetero_train.report`): a one-screen summary of a run.
`hetero-report --tensorboard DIR`: collected experiments as TensorBoard runs (tensorboard_export.py).

Per rank: device, steps, mean samples/s (last run), final loss; the latest evaluation on the held-out
split; which ranks took part when the planner left some out; the verdict: the cluster's measured samples/s
against what the cost model predicted for it and for each rank alone; then where metrics and checkpoints are.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path


def _rank_summary(path: Path) -> dict:
    data = json.loads(path.read_text())
    runs = data.get("runs", [])
    last_run = len(runs) - 1
    steps = [s for s in data.get("steps", []) if s.get("run") == last_run] or data.get("steps", [])
    last = steps[-1] if steps else {}
    # Skip the first logged step (warm-up) when there are more.
    body = steps[1:] if len(steps) > 1 else steps
    mean = sum(s["samples_per_s"] for s in body) / len(body) if body else 0.0
    device = last.get("device") or (runs[-1].get("hardware", {}).get("device") if runs else "?")
    worlds = runs[-1].get("worlds", []) if runs else []  # re-formed worlds (reform.py)
    # Each world's measured speed: global samples/s over the steps it trained (after any re-forming).
    bounds = [0, *(w["step"] for w in worlds), float("inf")]
    speeds = []
    for low, high in itertools.pairwise(bounds):
        seen = [
            s["global_samples_per_s"] for s in body if low < s["step"] <= high and "global_samples_per_s" in s
        ]
        speeds.append(sum(seen) / len(seen) if seen else None)
    return {
        "rank": data.get("rank"),
        "device": device,
        "step": last.get("step", 0),
        "share": last.get("share"),
        "samples_per_s": mean,
        "loss": last.get("loss"),
        "runs": len(runs),
        "worlds": worlds,
        "world_samples_per_s": speeds,  # measured, one per world: the first, then each re-formed one
        "forecast": runs[-1].get("forecast") if runs else None,  # the cost model's latest (trainer.py)
        "left_out": runs[-1].get("left_out") if runs else None,  # this rank's line, when it was left out
        # The latest evaluation on the held-out split: its step's record carries it (trainer.py).
        "evaluation": next((s for s in reversed(data.get("steps", [])) if "eval_loss" in s), None),
    }


def _membership(rows: list[dict]) -> list[str]:
    """Which ranks took part, and why the others were left out, when the run re-formed its world."""
    worlds = max((r["worlds"] for r in rows), key=len)
    if not worlds:
        return []
    lines = ["", f"took part: ranks {sorted(r['rank'] for r in rows)} from the start"]
    for w in worlds:
        lines.append(f"from step {w['step']}: ranks {w['ranks']}")
        lines += [f"  {why}" for why in w["left_out"].values()]
    return lines


def _evaluation(last: dict) -> list[str]:
    """The latest evaluation on the held-out split (evaluate.py), when the run had one."""
    seen = last["evaluation"]
    if not seen:
        return []
    accuracy = f", accuracy {seen['eval_accuracy']:.2%}" if seen.get("eval_accuracy") is not None else ""
    return [
        f"evaluation: loss {seen['eval_loss']}{accuracy} on {seen['eval_samples']} held-out samples"
        f" at step {seen['step']}"
    ]


def _verdict(last: dict, everyone: list[int]) -> list[str]:
    """Is the cluster faster than its best rank alone? Measured, against the cost model's predictions."""
    forecast, speeds = last["forecast"], last["world_samples_per_s"]
    if not forecast or not speeds or speeds[-1] is None:
        return []
    ranks, alone, predicted = forecast["ranks"], forecast["alone"], forecast["predicted_samples_per_s"]
    measured = speeds[-1]
    lines = [
        "",
        f"verdict: ranks {ranks} trained at {measured:.1f} samples/s measured"
        f" ({predicted:.1f} predicted by the cost model at step {forecast['step']})",
    ]
    if len(speeds) > 1 and speeds[0]:  # the world was re-formed: both sides were measured
        lines.append(
            f"  with every rank {everyone} it trained at {speeds[0]:.1f} samples/s (measured): without the"
            f" ranks left out it is {measured / speeds[0]:.2f}x as fast"
        )
    if len(ranks) > 1 and alone:
        best_rank, best = max(alone.items(), key=lambda kv: kv[1])
        ratio = measured / best
        each = ", ".join(f"rank {r} {v:.1f}" for r, v in alone.items())
        lines.append(
            f"  one rank alone would do (predicted): {each} samples/s; the cluster is {ratio:.2f}x the best"
            f" (rank {best_rank}): {'faster' if ratio >= 1 else 'SLOWER'} than it alone"
        )
    return lines


def summarize(experiment: Path) -> str:
    logs = sorted((experiment / "logs").glob("rank_*_metrics.json"), key=lambda p: int(p.name.split("_")[1]))
    if not logs:
        raise FileNotFoundError(f"no logs/rank_<r>_metrics.json under {experiment}")
    rows = [_rank_summary(p) for p in logs]
    lines = [f"experiment {experiment}", ""]
    lines.append(f"{'rank':>4}  {'device':<8} {'step':>7} {'share':>6} {'samples/s':>10} {'loss':>9}  runs")
    for r in rows:
        loss = f"{r['loss']:.4f}" if r["loss"] is not None else "-"
        share = r["share"] if r["share"] is not None else "-"
        rank, device, step, speed, runs = r["rank"], r["device"], r["step"], r["samples_per_s"], r["runs"]
        lines.append(f"{rank:>4}  {device:<8} {step:>7} {share:>6} {speed:>10.1f} {loss:>9} {runs:>5}")
    last = max(rows, key=lambda r: r["step"])  # a rank left out stopped earlier than the others
    now = last["world_samples_per_s"][-1] or sum(r["samples_per_s"] for r in rows)
    ranks = len(last["forecast"]["ranks"]) if last["forecast"] else len(rows)
    lines += ["", f"cluster: {now:.1f} samples/s with {ranks} rank(s) at the end; final loss {last['loss']}"]
    lines += _evaluation(last)
    lines += _membership(rows)
    lines += _verdict(last, sorted(r["rank"] for r in rows))
    lines.append(f"metrics:     {experiment / 'logs'}")
    lines.append(f"profiles:    {experiment / 'configs' / 'gpu_profiles.json'}")
    ckpt = experiment / "checkpoints"
    final = ckpt / "final.pt"
    lines.append(
        f"checkpoints: {ckpt}" + (f" (final model: {final})" if final.exists() else " (no final.pt yet)")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].partition("=")[0] == "--tensorboard":  # collected experiments as TensorBoard runs
        from . import tensorboard_export

        return tensorboard_export.main([argv[0].partition("=")[2], *argv[1:]] if "=" in argv[0] else argv[1:])
    if len(argv) != 1:
        print("usage: hetero-report <experiment-dir> | hetero-report --tensorboard DIR [EXPERIMENT ...]",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        print(summarize(Path(argv[0])))
    except (OSError, ValueError, KeyError) as e:
        print(f"hetero-train report: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
