"""The experiments screen (Pilot, 80x24): collected experiments side by side, newest first, with the figures
the report computes (final loss, samples/s at the end, ranks at the end, sync mode, start)."""

from __future__ import annotations

from hetero_tui.app import HeteroApp
from hetero_tui.screens.experiments import ExperimentsScreen
from hetero_tui.services.experiments import rows
from textual.widgets import DataTable, Static

from hetero_train import report
from tests.tui.app_helpers import REPO, pilot_test, table_rows, text_of
from tests.unit.collected_runs import two_experiments as collected


def app_on(root, tmp_path) -> HeteroApp:
    return HeteroApp(
        REPO / "inventory" / "local.yml",
        extravars={"hetero_collect_dir": str(root)},  # where Collect was told to bring them
        artifacts=tmp_path / "artifacts",
        follow_containers=False,
    )


def test_rows_carry_the_reports_figures(tmp_path):
    root = tmp_path / "experiments"
    collected(root)
    newest, older = rows(root)
    assert (newest.name, newest.sync, newest.ranks, newest.steps) == ("cnn-psgd", "powersgd", "2 of 3", 8)
    assert (older.name, older.started, older.ranks) == ("cnn-exact", "2026-11-29 10:00", "2")
    summary = report.summarize(root / "cnn-exact" / "lap2")  # the report on one host's copy: rank 1
    assert f"final loss {older.loss}" in summary


def test_an_unreadable_experiment_is_listed_saying_so(tmp_path):
    root = tmp_path / "experiments"
    collected(root)
    (root / "cnn-exact" / "lap1" / "logs" / "rank_0_metrics.json").write_text("{not json")
    broken = [row for row in rows(root) if row.problem]
    assert [row.name for row in broken] == ["cnn-exact"] and "unreadable" in broken[0].problem


@pilot_test
async def test_the_screen_lists_them_side_by_side(tmp_path):
    root = tmp_path / "experiments"
    collected(root)
    async with app_on(root, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("E")
        assert isinstance(pilot.app.screen, ExperimentsScreen)
        table = pilot.app.screen.query_one(DataTable)
        shown = table_rows(table)
        assert [row[0] for row in shown] == ["cnn-psgd", "cnn-exact"]
        assert shown[0][2:5] == ["2 of 3", "powersgd", "8"]
        assert shown[1][1:6] == ["2026-11-29 10:00", "2", "exact", "6", "0.3333"]
        assert "2 collected in" in text_of(pilot.app.screen.query_one("#run-title", Static))
        assert "hetero-report --tensorboard DIR" in text_of(pilot.app.screen.query_one("#experiments-hint"))


@pilot_test
async def test_before_any_collect_it_says_what_to_do(tmp_path):
    async with app_on(tmp_path / "nothing-here", tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("E")
        assert pilot.app.screen.query_one(DataTable).row_count == 0
        assert "Collect (C)" in text_of(pilot.app.screen.query_one("#run-title", Static))
