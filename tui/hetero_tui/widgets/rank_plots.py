"""RankPlots: one row per rank — samples/s, loss and batch share as Sparklines with their latest values."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from hetero_tui.widgets.log_view import rank_colour

PLOTS = (("samples_per_s", "samples/s", "{:.0f}"), ("loss", "loss", "{:.3f}"), ("share", "share", "{:d}"))


class RankRow(Horizontal):
    def __init__(self, rank: int) -> None:
        super().__init__(classes="rank-row", id=f"rank-row-{rank}")
        self.rank = rank

    def compose(self) -> ComposeResult:
        yield Static(Text(f"rank {self.rank}", style=f"bold {rank_colour(self.rank)}"), classes="rank-label")
        for name, _title, _fmt in PLOTS:
            with Vertical(classes="plot"):
                yield Label("", id=f"v-{name}")
                yield Sparkline([], id=f"s-{name}", summary_function=max)

    def show(self, series, straggler: bool) -> None:
        label = Text(f"rank {self.rank}", style=f"bold {rank_colour(self.rank)}")
        label.append(f"\n{series.device or ''}"[:13], style="dim")
        if straggler:
            label.append("\nSTRAGGLER", style="bold red")
        elif series.done:
            label.append("\ndone", style="green")
        self.query_one(".rank-label", Static).update(label)
        latest = series.latest
        for name, title, fmt in PLOTS:
            values = series.values(name)[-60:]  # the last 60 steps fit any width we draw at
            self.query_one(f"#s-{name}", Sparkline).data = values
            value = fmt.format(getattr(latest, name)) if latest else "-"
            self.query_one(f"#v-{name}", Label).update(f"{title} {value}")


class RankPlots(Widget):
    DEFAULT_CSS = "RankPlots { height: auto; }"

    def compose(self) -> ComposeResult:
        yield from ()

    def show(self, metrics) -> None:
        stragglers = metrics.stragglers()
        for rank, series in sorted(metrics.ranks.items()):
            rows = self.query(f"#rank-row-{rank}")
            if rows:
                rows.first(RankRow).show(series, rank in stragglers)
            else:
                row = RankRow(rank)
                self.mount(row)
                self.call_after_refresh(row.show, series, rank in stragglers)
