"""MetricPlots: plotted metrics over steps, with axes and units (textual-plotext): samples/s and batch share
per rank, and the cluster's loss with the evaluation loss where the trainer evaluates."""

from __future__ import annotations

from rich.color import Color
from textual.app import ComposeResult
from textual.containers import Grid
from textual_plotext import PlotextPlot

from hetero_tui.widgets.log_view import rank_colour

LAST_STEPS = 300  # more points than a terminal has columns say nothing more


def plot_colour(rank: int) -> tuple[int, int, int]:
    """The rank's colour of the log view, as the RGB triple plotext takes."""
    return tuple(Color.parse(rank_colour(rank)).get_truecolor())


class MetricPlot(PlotextPlot):
    def draw(self, title: str, ylabel: str, lines: list[tuple[list, list, str, tuple]]) -> None:
        """Redraw with (x, y, label, colour) lines; x is the step."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("step")
        plt.ylabel(ylabel)
        drawn = False
        for xs, ys, label, colour in lines:
            if xs:
                plt.plot(xs, ys, label=label, color=colour, marker="braille")
                drawn = True
        if not drawn:  # an empty plot still shows its axes, named, over the first steps
            plt.plot([1], [0], color="gray", marker=" ")
            plt.xlim(1, 10)
            plt.ylim(0, 1)
        plt.title(title if drawn else f"{title}: no steps yet")
        self.refresh()


class MetricPlots(Grid):
    DEFAULT_CSS = """
    MetricPlots { grid-size: 2 2; grid-rows: 1fr 1fr; height: 1fr; }
    MetricPlots #plot-loss { column-span: 2; }
    """

    def compose(self) -> ComposeResult:
        yield MetricPlot(id="plot-throughput")
        yield MetricPlot(id="plot-share")
        yield MetricPlot(id="plot-loss")

    def show(self, metrics) -> None:
        ranks = sorted(metrics.ranks.items())

        def per_rank(name: str) -> list[tuple[list, list, str, tuple]]:
            return [
                (s.steps()[-LAST_STEPS:], s.values(name)[-LAST_STEPS:], f"rank {r}", plot_colour(r))
                for r, s in ranks
            ]

        self.query_one("#plot-throughput", MetricPlot).draw(
            "samples/s per rank", "samples/s", per_rank("samples_per_s")
        )
        self.query_one("#plot-share", MetricPlot).draw("batch share per rank", "samples", per_rank("share"))
        steps, loss = metrics.loss_series()
        lines = [(steps[-LAST_STEPS:], loss[-LAST_STEPS:], "training loss", (0, 175, 255))]
        evals = metrics.eval_series()[-LAST_STEPS:]
        if evals:
            lines.append(([e.step for e in evals], [e.loss for e in evals], "evaluation loss", (255, 135, 0)))
        self.query_one("#plot-loss", MetricPlot).draw("loss (the cluster's)", "loss", lines)
