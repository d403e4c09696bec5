"""Pilot test of the metrics screen, fed the trainer's JSON step lines through the log path."""

from __future__ import annotations

from hetero_tui.app import HeteroApp
from hetero_tui.screens.metrics import MetricsScreen
from textual.widgets import Sparkline, Static

from tests.tui.app_helpers import REPO, log_line, pilot_test, step_line, text_of

SHARES = {0: 40, 1: 40, 2: 20}
COMPUTE = {0: 0.1, 1: 0.1, 2: 0.3}  # rank 2 computes 3x longer per step: the straggler


@pilot_test
async def test_per_rank_plots_total_throughput_efficiency_and_straggler(tmp_path):
    app = HeteroApp(REPO / "inventory" / "local.yml", artifacts=tmp_path, follow_containers=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        screen = pilot.app.screen
        assert isinstance(screen, MetricsScreen)
        assert "no step lines yet" in text_of(screen.query_one("#metrics-summary", Static))
        for step in range(1, 6):
            for rank in range(3):
                text = step_line(rank, step, SHARES[rank], COMPUTE[rank], step_s=0.5, loss=2.0 / step)
                pilot.app.receive_log_line(log_line(rank, text, second=step))
            pilot.app.receive_log_line(log_line(0, "a progress line that is not JSON"))
        # The screen redraws on a timer; under load the last redraw can come later than usual.
        for _ in range(50):
            await pilot.pause(0.1)
            if "STRAGGLER" in text_of(screen.query_one("#rank-row-2 .rank-label", Static)):
                break
        summary = text_of(screen.query_one("#metrics-summary", Static))
        # T = 100 samples per 0.5 s step; η = 200 / (400 + 400 + 66.7)
        assert "total 200 samples/s" in summary
        assert "η 23%" in summary
        assert "straggler: rank 2" in summary
        labels = {
            rank: text_of(screen.query_one(f"#rank-row-{rank} .rank-label", Static)) for rank in range(3)
        }
        assert "STRAGGLER" in labels[2] and "STRAGGLER" not in labels[0]
        loss = screen.query_one("#rank-row-0 #s-loss", Sparkline)
        assert list(loss.data) == [2.0, 1.0, 2.0 / 3, 0.5, 0.4]
        share = screen.query_one("#rank-row-2 #v-share")
        assert text_of(share) == "share 20"
