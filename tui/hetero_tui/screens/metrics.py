"""Live training metrics from the ranks' structured log lines: per rank where a step's time goes beside its
host's CPU, memory and GPU, the planner's decisions, and plots over steps."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from hetero_tui.screens.base import HeteroScreen
from hetero_tui.widgets.metric_plots import MetricPlots
from hetero_tui.widgets.planner_panel import planner_text
from hetero_tui.widgets.rank_rows import RankRows, stats_text

REDRAW_S = 0.5  # step lines arrive in bursts; plots cost a few ms each to draw


def summary_text(metrics) -> Text:
    total, eta = metrics.total_throughput(), metrics.efficiency()
    text = Text()
    text.append("total ", style="bold")
    text.append(f"{total:.0f} samples/s" if total is not None else "- (waiting for every rank)")
    text.append("   η ", style="bold")
    text.append(f"{eta:.0%}" if eta is not None else "-")
    text.append(" of Σ rank compute speed", style="dim")
    stragglers = sorted(metrics.stragglers())
    if stragglers:
        text.append("   straggler: " + ", ".join(f"rank {r}" for r in stragglers), style="bold red")
    return text


def rank_gpu(facts: dict, rank: int, device: str) -> int | None:
    """The nvidia-smi index of a rank's GPU: the launch facts' rank plan, else its device (cuda:N)."""
    for entry in facts.get("hetero_host_ranks") or []:
        if entry.get("rank") == rank and entry.get("gpu") is not None:
            return int(entry["gpu"])
    index = device.removeprefix("cuda:") if device.startswith("cuda:") else ""
    return int(index) if index.isdigit() else None


class MetricsScreen(HeteroScreen):
    HELP = """\
## Metrics
From the trainer's JSON lines in the rank logs, and each host's figures sampled over SSH every 3 s.

**total**: samples/s of the whole cluster; **η**: total ÷ the sum of every rank's compute-only speed
(100% = no time lost to waiting or all-reduce); **straggler**: a rank whose compute time per step stands out
(> 1.5 × the others' median).

**Ranks** (`g` switches to the plots): per rank its samples/s and share of the global batch; its mean step
over the last 10 as a bar: compute (green), communication (yellow: the all-reduce backward did not hide),
waiting (red: for the slowest rank's compute); its host's CPU %, memory and, with nvidia-smi, its GPU's
utilisation and memory. Above them, the planner: the sync mode and split, measured against predicted
samples/s, the best machine alone (predicted) and whether the cluster beats it, the ranks left out and why.

**Plots**: samples/s and share per rank, and the cluster's loss (with the evaluation loss when the trainer
evaluates), over steps.
"""

    BINDINGS = [Binding("g", "switch_tab", "Ranks/Plots")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="metrics-summary")
        with TabbedContent(initial="ranks"):
            with TabPane("Ranks", id="ranks"), VerticalScroll():
                yield Static("", id="planner")
                yield RankRows()
            with TabPane("Plots", id="plots"):
                yield MetricPlots()
        yield Footer()

    def on_mount(self) -> None:
        self._dirty = True
        self.set_interval(REDRAW_S, self._redraw_if_dirty)
        self.call_after_refresh(self._redraw_if_dirty)

    def action_switch_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "plots" if tabs.active == "ranks" else "ranks"

    def on_tabbed_content_tab_activated(self, _event) -> None:
        self.refresh_metrics()

    def refresh_metrics(self) -> None:
        """New step lines or host figures: redrawn on the next tick (at most every REDRAW_S)."""
        self._dirty = True

    def _redraw_if_dirty(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        metrics = self.app.metrics
        summary = (
            summary_text(metrics)
            if metrics.ranks
            else Text("no step lines yet: Launch, then wait for the first logged step", style="dim")
        )
        self.query_one("#metrics-summary", Static).update(summary)
        if self.query_one(TabbedContent).active == "plots":
            self.query_one(MetricPlots).show(metrics)
            return
        self.query_one("#planner", Static).update(planner_text(metrics, self._left_out_by_status()))
        self.query_one(RankRows).show(metrics, self._host_line)

    def _host_line(self, rank: int, host: str) -> Text:
        app = self.app
        state = app.states.hosts.get(host)
        series = app.metrics.ranks.get(rank)
        gpu = rank_gpu(state.facts if state else {}, rank, series.device if series else "")
        return stats_text(host, app.hoststats.latest.get(host), gpu)

    def _left_out_by_status(self) -> dict[int, str]:
        """rank -> why, for the rank containers status.yml found left out."""
        out = {}
        for state in self.app.states.hosts.values():
            for container in state.containers:
                number = container.name.rsplit("-", 1)[-1]
                if container.left_out and number.isdigit():
                    out[int(number)] = container.left_out
        return out
