"""RankRows: one block per rank, lazydocker-style: its throughput and share, where its step goes (compute,
communication, waiting) as a bar and in seconds, and beside them its host's CPU, memory and GPU."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from hetero_tui.widgets.log_view import rank_colour

BAR = 20
PARTS = (("compute", "compute_s", "green"), ("comm", "comm_s", "yellow"), ("wait", "wait_s", "red"))


def split_bar(split, width: int = BAR) -> Text:
    """compute | communication | waiting as coloured blocks over `width` cells, each part rounded."""
    total = split.step_s
    text = Text("▕")
    if total <= 0:
        return text.append(" " * width).append("▏")
    cells, used = [], 0
    for _name, key, _colour in PARTS:
        cells.append(round(width * getattr(split, key) / total))
    cells[0] += width - sum(cells)  # rounding: compute takes up the odd cell
    for (_name, _key, colour), n in zip(PARTS, cells, strict=True):
        text.append("█" * max(0, n), style=colour)
        used += max(0, n)
    return text.append(" " * (width - used)).append("▏")


def split_text(split) -> Text:
    """`step 0.40 s = compute 0.11 + comm 0.04 + wait 0.25`, each part in its bar colour."""
    text = Text(f" step {split.step_s:.2f} s = ")
    for i, (name, key, colour) in enumerate(PARTS):
        text.append(" + " if i else "")
        text.append(f"{name} {getattr(split, key):.2f}", style=colour)
    return text


def gb(mb: float | None) -> str:
    return "-" if mb is None else f"{mb / 1024:.1f}"


def stats_text(host: str, stats, gpu_index: int | None) -> Text:
    """`lap1  cpu  83% · mem 3.1/7.7 GB · gpu0 97% 5.1/8.0 GB`, or why there are no figures."""
    text = Text(f"  {host or '?'}  ", style="bold")
    if stats is None:
        return text.append("host stats: not sampled yet", style="dim")
    if stats.error and stats.memory_total_mb is None:
        return text.append(f"host stats: {stats.error}", style="dim")
    cpu = stats.cpu_percent
    busy = "bold" if cpu and cpu > 90 else ""
    text.append(f"cpu {cpu:3.0f}%" if cpu is not None else "cpu   -%", style=busy)
    text.append(f" · mem {gb(stats.memory_used_mb)}/{gb(stats.memory_total_mb)} GB")
    for gpu in stats.gpu(gpu_index):
        util = f"{gpu.util_percent:.0f}%" if gpu.util_percent is not None else "-%"
        text.append(f" · gpu{gpu.index} {util} {gb(gpu.memory_used_mb)}/{gb(gpu.memory_total_mb)} GB")
    return text


def rank_text(rank: int, series, split, straggler: bool, total_share: int, host_line: Text) -> Text:
    """The whole block of one rank."""
    latest = series.latest
    text = Text(f"rank {rank}", style=f"bold {rank_colour(rank)}")
    text.append(f"  {series.device or '?'}", style="dim")
    if latest is not None:
        part = f" ({100 * latest.share / total_share:.0f}%)" if total_share else ""
        text.append(f"   {latest.samples_per_s:.0f} samples/s · share {latest.share}{part}")
    if straggler:
        text.append("  STRAGGLER", style="bold red")
    elif series.done:
        text.append("  done", style="green")
    text.append("\n  ")
    if split is not None:
        text.append_text(split_bar(split))
        text.append_text(split_text(split))
    else:
        text.append("no step yet", style="dim")
    return text.append("\n").append_text(host_line)


class RankRows(Vertical):
    """A container: with no rank yet it shows nothing (a bare Widget would show its class name)."""

    DEFAULT_CSS = """
    RankRows { height: auto; }
    RankRows > Static { height: auto; margin-bottom: 1; }
    """

    def show(self, metrics, host_line) -> None:
        """`host_line(rank, host)`: that rank's host figures as a Text (the screen knows where they are)."""
        stragglers, splits = metrics.stragglers(), metrics.time_split()
        # a share is a part of the global batch: the latest plan's sum (a left-out rank's old share is not)
        total_share = sum(metrics.planner.shares or []) or sum(
            s.latest.share for s in metrics.ranks.values() if s.latest is not None
        )
        for rank, series in sorted(metrics.ranks.items()):
            text = rank_text(
                rank, series, splits.get(rank), rank in stragglers, total_share, host_line(rank, series.host)
            )
            found = self.query(f"#rank-row-{rank}")
            if found:
                found.first(Static).update(text)
            else:
                self.mount(Static(text, id=f"rank-row-{rank}", classes="rank-row"))
