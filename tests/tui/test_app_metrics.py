"""Pilot tests of the metrics screen, fed the trainer's JSON lines through the log path and host figures
through the host-stats feed (as the SSH sampling delivers them)."""

from __future__ import annotations

import json

from hetero_tui.app import HeteroApp
from hetero_tui.screens.metrics import MetricsScreen
from hetero_tui.services.hoststats import GpuStat, HostStats
from hetero_tui.widgets.metric_plots import MetricPlot
from textual.widgets import Static, TabbedContent

from tests.tui.app_helpers import REPO, log_line, pilot_test, step_line, text_of, wait_for

SHARES = {0: 40, 1: 40, 2: 20}
COMPUTE = {0: 0.1, 1: 0.1, 2: 0.3}  # rank 2 computes 3x longer per step: the straggler


def metrics_app(tmp_path) -> HeteroApp:
    return HeteroApp(REPO / "inventory" / "local.yml", artifacts=tmp_path, follow_containers=False)


def feed_steps(app: HeteroApp, steps: int = 5) -> None:
    for step in range(1, steps + 1):
        for rank in range(3):
            text = step_line(rank, step, SHARES[rank], COMPUTE[rank], step_s=0.5, loss=2.0 / step)
            app.receive_log_line(log_line(rank, text, second=step))
        app.receive_log_line(log_line(0, "a progress line that is not JSON"))


def feed_event(app: HeteroApp, rank: int, **event) -> None:
    app.receive_log_line(log_line(rank, json.dumps({"rank": rank, **event}), second=30))


def row_text(screen, rank: int) -> str:
    """What the rank's block shows ("" until its first line arrived)."""
    rows = screen.query(f"#rank-row-{rank}")
    return text_of(rows.first(Static)) if rows else ""


@pilot_test
async def test_ranks_show_where_the_step_goes_beside_their_hosts_figures(tmp_path):
    app = metrics_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        screen = pilot.app.screen
        assert isinstance(screen, MetricsScreen)
        assert "no step lines yet" in text_of(screen.query_one("#metrics-summary", Static))
        feed_steps(pilot.app)
        pilot.app.hoststats.receive(HostStats("lap1", 83.0, 3 * 1024, 8 * 1024))
        pilot.app.hoststats.receive(
            HostStats("lap2", 12.0, 2 * 1024, 16 * 1024, (GpuStat(0, "RTX 3060", 97.0, 5 * 1024, 12 * 1024),))
        )
        pilot.app.hoststats.receive(HostStats("lap3", None, None, None, error="ssh: connection refused"))
        # The screen redraws on a timer; under load the last redraw can come later than usual.
        await wait_for(pilot, lambda: "STRAGGLER" in row_text(screen, 2), 10, "the straggler flag")
        await wait_for(pilot, lambda: "gpu0" in row_text(screen, 1), 10, "lap2's GPU")
        summary = text_of(screen.query_one("#metrics-summary", Static))
        # T = 100 samples per 0.5 s step; η = 200 / (400 + 400 + 66.7)
        assert "total 200 samples/s" in summary
        assert "η 23% of Σ rank compute speed" in summary
        assert "straggler: rank 2" in summary
        rows = {rank: row_text(screen, rank) for rank in range(3)}
        assert "STRAGGLER" in rows[2] and "STRAGGLER" not in rows[0]
        assert "80 samples/s · share 40 (40%)" in rows[0]
        # rank 0 computes 0.1 s, then waits 0.2 s for rank 2's compute, then 0.2 s of all-reduce
        assert "step 0.50 s = compute 0.10 + comm 0.20 + wait 0.20" in rows[0]
        assert "compute 0.30 + comm 0.20 + wait 0.00" in rows[2]
        assert "lap1  cpu  83% · mem 3.0/8.0 GB" in rows[0]
        assert "lap2  cpu  12% · mem 2.0/16.0 GB · gpu0 97% 5.0/12.0 GB" in rows[1]
        assert "lap3  host stats: ssh: connection refused" in rows[2]


@pilot_test
async def test_planner_says_sync_mode_prediction_best_machine_alone_and_who_left_and_why(tmp_path):
    app = metrics_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        screen = pilot.app.screen
        feed_steps(pilot.app)
        feed_event(pilot.app, 0, event="plan", step=4, shares=[40, 40, 20], reason="dynamic", sync="bf16",
                   predicted_samples_per_s=250.0)  # fmt: skip
        feed_event(pilot.app, 0, event="forecast", step=4, predicted_samples_per_s=250.0,
                   subsets={"0": 160.0, "1": 150.0, "2": 40.0})  # fmt: skip
        why = "rank 2 (lap3) left out: its link adds 0.40 s per step; the cluster is faster without it"
        feed_event(pilot.app, 2, event="left_out", step=4, reason=why)

        def planner() -> str:
            return text_of(screen.query_one("#planner", Static))

        await wait_for(pilot, lambda: "left out" in planner(), 10, "the left-out rank")
        shown = " ".join(planner().split())  # the panel wraps at the screen's width
        assert "sync bf16 · split 40/40/20 (dynamic, step 4)" in shown
        assert "samples/s: measured 200 · predicted 250 by the cost model (80%)" in shown
        assert "best machine alone: rank 0 (lap1) 160 samples/s predicted · cluster 1.25x" in shown
        assert f"left out: {why}" in shown


@pilot_test
async def test_plots_show_samples_per_s_share_and_loss_with_the_evaluation_loss(tmp_path):
    app = metrics_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        screen = pilot.app.screen
        feed_steps(pilot.app)
        feed_event(pilot.app, 0, event="eval", step=5, eval_loss=0.45, eval_accuracy=0.8)
        await pilot.press("g")
        assert screen.query_one(TabbedContent).active == "plots"

        def drawn(plot_id: str) -> str:
            plot = screen.query_one(plot_id, MetricPlot)
            return "\n".join(plot.render_line(y).text for y in range(plot.size.height))

        await wait_for(pilot, lambda: "evaluation loss" in drawn("#plot-loss"), 10, "the loss plot")
        throughput = drawn("#plot-throughput")
        assert "samples/s per rank" in throughput and "step" in throughput
        assert all(f"rank {rank}" in throughput for rank in range(3))
        assert "batch share per rank" in drawn("#plot-share")
        loss = drawn("#plot-loss")
        assert "training loss" in loss and "step" in loss
        await pilot.press("g")
        assert screen.query_one(TabbedContent).active == "ranks"
