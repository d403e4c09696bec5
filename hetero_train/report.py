"""`python -m hetero_train.report <experiment-dir>`: a one-screen summary of a run.

Per rank: device, steps, mean samples/s (last run), final loss; which ranks took part when the planner left
some out; then where metrics and checkpoints are.
"""

from __future__ import annotations

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
    return {
        "rank": data.get("rank"),
        "device": device,
        "step": last.get("step", 0),
        "share": last.get("share"),
        "samples_per_s": mean,
        "loss": last.get("loss"),
        "runs": len(runs),
        "worlds": runs[-1].get("worlds", []) if runs else [],  # re-formed worlds (reform.py)
        "left_out": runs[-1].get("left_out") if runs else None,  # this rank's line, when it was left out
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
    total = sum(r["samples_per_s"] for r in rows)
    last = max(rows, key=lambda r: r["step"])  # a rank left out stopped earlier than the others
    lines += ["", f"cluster: {total:.1f} samples/s over {len(rows)} rank(s); final loss {last['loss']}"]
    lines += _membership(rows)
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
    if len(argv) != 1:
        print("usage: python -m hetero_train.report <experiment-dir>", file=sys.stderr)
        return 2
    try:
        print(summarize(Path(argv[0])))
    except (OSError, ValueError, KeyError) as e:
        print(f"hetero-train report: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
