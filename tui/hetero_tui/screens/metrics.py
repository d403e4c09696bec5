"""Live training metrics from the ranks' structured log lines: per-rank plots, cluster throughput and η."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static

from hetero_tui.screens.base import HeteroScreen
from hetero_tui.widgets.rank_plots import RankPlots


def summary_text(metrics) -> Text:
    total, eta = metrics.total_throughput(), metrics.efficiency()
    text = Text()
    text.append("total ", style="bold")
    text.append(f"{total:.0f} samples/s" if total is not None else "- (waiting for every rank)")
    text.append("   η ", style="bold")
    text.append(f"{eta:.0%}" if eta is not None else "-")
    stragglers = sorted(metrics.stragglers())
    if stragglers:
        text.append("   straggler: " + ", ".join(f"rank {r}" for r in stragglers), style="bold red")
    if metrics.shares:
        text.append(f"   split {metrics.shares}", style="dim")
    return text


class MetricsScreen(HeteroScreen):
    HELP = """\
## Metrics
From the trainer's JSON step lines in the rank logs. **total**: samples/s of the whole cluster;
**η**: total ÷ the sum of every rank's compute-only speed (1 = no time lost to waiting or all-reduce);
**STRAGGLER**: a rank whose compute time per step stands out (> 1.5 × the others' median).
"""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="metrics-summary")
        with VerticalScroll():
            yield RankPlots()
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_metrics()

    def refresh_metrics(self) -> None:
        metrics = self.app.metrics
        summary = (
            summary_text(metrics)
            if metrics.ranks
            else Text("no step lines yet: Launch, then wait for the first logged step", style="dim")
        )
        self.query_one("#metrics-summary", Static).update(summary)
        self.query_one(RankPlots).show(metrics)
