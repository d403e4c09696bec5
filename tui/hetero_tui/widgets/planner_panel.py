"""What the planner decided, as the metrics screen shows it beside the ranks: the sync mode and split, the
measured against the predicted samples/s, the best machine alone, and the ranks left out and why."""

from __future__ import annotations

from rich.text import Text


def planner_text(metrics, left_out_status: dict[int, str] | None = None) -> Text:
    """`left_out_status`: rank -> why, from status.yml's containers (a run the logs no longer hold)."""
    planner = metrics.planner
    text = Text("planner ", style="bold")
    sync = planner.sync or "-"
    if planner.sent_fraction:
        sync += f" (sent {100 * planner.sent_fraction:.3g}% of the gradient)"
    text.append(f"sync {sync}")
    if planner.shares:
        why = ", ".join(str(p) for p in (planner.policy, f"step {planner.plan_step}") if p is not None)
        text.append(f" · split {'/'.join(map(str, planner.shares))}" + (f" ({why})" if why else ""))
    measured, predicted = metrics.total_throughput(), planner.predicted
    text.append("\n  samples/s: measured ")
    text.append(f"{measured:.0f}" if measured is not None else "-", style="bold")
    text.append(" · predicted ")
    text.append(f"{predicted:.0f} by the cost model" if predicted is not None else "- (after a re-plan)")
    if measured is not None and predicted:
        text.append(f" ({measured / predicted:.0%})", style="dim")
    best = planner.best_alone()
    text.append("\n  best machine alone: ")
    if best is None:
        text.append("- (the cost model's first forecast tells)", style="dim")
    else:
        rank, speed = best
        host = metrics.ranks[rank].host if rank in metrics.ranks else ""
        text.append(f"rank {rank}" + (f" ({host})" if host else "") + f" {speed:.0f} samples/s predicted")
        if measured is not None and speed > 0:
            ratio = measured / speed
            verdict, style = ("", "bold") if ratio >= 1 else (": SLOWER than it alone", "bold red")
            text.append(f" · cluster {ratio:.2f}x{verdict}", style=style)
    left = {**(left_out_status or {}), **planner.left_out}
    for rank, why in sorted(left.items()):  # the trainer's line names the rank and its host already
        text.append("\n  left out: ", style="bold yellow")
        text.append(why if why.startswith("rank ") else f"rank {rank}: {why}")
    if not left:
        for rank, why in sorted(planner.would_leave.items()):
            text.append("\n  faster without (every rank keeps training): ", style="yellow")
            text.append(why if why.startswith("rank ") else f"rank {rank}: {why}")
    return text
