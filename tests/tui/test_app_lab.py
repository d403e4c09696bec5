"""The app's playbook actions for real: ansible-runner over SSH against the lab laptops, driven by Pilot.

Every test works on a copy of the lab inventory (tmp_path) and keeps its runs in tmp_path/artifacts."""

from __future__ import annotations

import re

import pytest
from hetero_tui.app import HeteroApp
from hetero_tui.screens.confirm import ConfirmScreen
from hetero_tui.screens.history import HistoryScreen
from hetero_tui.screens.inventory import InventoryScreen
from hetero_tui.screens.logs import LogsScreen
from hetero_tui.screens.metrics import MetricsScreen
from hetero_tui.screens.run import RawOutputScreen, ResultScreen, RunScreen
from hetero_tui.services.inventory import Inventory
from hetero_tui.widgets.log_view import LogView
from hetero_tui.widgets.run_grid import RunGridTable
from textual.widgets import DataTable, Log, Static, Tabs

from tests.faults.rank_faults import crash
from tests.lab.pipeline import controller_image_id, laptop_image_id, rank_containers, run_playbook
from tests.tui.app_helpers import (
    copy_inventory,
    distribute_image,
    grid_cells,
    laptops_see_a_whole_ufw,
    log_view_lines,
    pilot_test,
    table_rows,
    text_of,
    tiny_training,
    wait_for,
)

pytestmark = pytest.mark.lab
LAPTOPS = ["lap1", "lap2", "lap3"]


@pytest.fixture(scope="module")
def distributed(lab, base_image, tmp_path_factory):
    distribute_image(lab, tmp_path_factory.mktemp("distribute"))


def lab_app(lab, tmp_path, **kwargs) -> HeteroApp:
    inventory = copy_inventory(lab.inventory, tmp_path / "inv")
    return HeteroApp(inventory, artifacts=tmp_path / "artifacts", save_dir=tmp_path, **kwargs)


async def finished(pilot, timeout: float = 600) -> None:
    await wait_for(pilot, lambda: pilot.app.runs.current.grid.status != "running", timeout, "the run to end")
    await pilot.pause(0.5)  # the grid redraws every 0.2 s


@pilot_test
async def test_status_fills_the_grid_and_host_states_and_is_kept_for_later(lab, tmp_path):
    app = lab_app(lab, tmp_path, follow_containers=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        assert isinstance(pilot.app.screen, RunScreen)
        await finished(pilot)
        run = pilot.app.runs.current
        assert run.grid.status == "successful"
        assert run.grid.hosts[:3] == LAPTOPS or sorted(run.grid.hosts) == LAPTOPS
        table = pilot.app.screen.query_one(RunGridTable)
        row = next(r for r in table_rows(table) if r[0].strip() == "Ask Docker for its version")
        assert all(cell.startswith("ok ") and cell.endswith("s") for cell in row[1:4]), row
        assert "Status" in text_of(pilot.app.screen.query_one("#run-title", Static))

        await pilot.press("o")
        assert isinstance(pilot.app.screen, RawOutputScreen)
        raw = "\n".join(pilot.app.screen.query_one(Log).lines)
        assert "PLAY RECAP" in raw and "HOST" in raw

        await pilot.press("escape", "escape")
        assert isinstance(pilot.app.screen, InventoryScreen)
        hosts = {row[0]: row for row in table_rows(pilot.app.screen.query_one("#hosts", DataTable))}
        assert hosts["lap1"][2:5] == ["master", "CPU", "0"]
        assert hosts["lap3"][2:5] == ["worker", "CPU", "2"]
        assert all(hosts[name][5].startswith("up docker ") for name in LAPTOPS), hosts

        await pilot.press("h")
        assert isinstance(pilot.app.screen, HistoryScreen)
        past = table_rows(pilot.app.screen.query_one(DataTable))
        assert [row[1:3] for row in past] == [["status", "successful"]]
        await pilot.press("enter")
        reopened = pilot.app.screen
        assert isinstance(reopened, RunScreen) and reopened.run is not run
        assert reopened.run.grid.counts() == run.grid.counts()


@pilot_test
async def test_preflight_from_the_palette_shows_an_unreachable_hosts_whole_result(lab, tmp_path):
    app = lab_app(lab, tmp_path, follow_containers=False)
    # The lab's outsider namespace answers on the lab subnet but runs no sshd: a laptop that is switched off.
    inventory = Inventory.load(app.inventory_path)
    assert inventory.add_host({"name": "asleep", "ansible_host": "10.77.0.99"}) == {}
    inventory.save()
    app.inventory = Inventory.load(app.inventory_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p", *"preflight")
        await pilot.pause(0.5)
        await pilot.press("enter")
        assert isinstance(pilot.app.screen, RunScreen)
        await finished(pilot)
        grid = pilot.app.runs.current.grid
        assert [(r.host, r.status) for r in grid.failed()][:1] == [("asleep", "unreachable")]
        await pilot.press("n", "enter")
        result = pilot.app.screen
        assert isinstance(result, ResultScreen)
        assert result.result.host == "asleep" and result.result.status == "unreachable"
        shown = "\n".join(text_of(widget) for widget in result.query(Static))
        assert "10.77.0.99" in shown and '"unreachable": true' in shown
        await pilot.press("escape", "escape")
        hosts = {row[0]: row for row in table_rows(pilot.app.screen.query_one("#hosts", DataTable))}
        assert hosts["asleep"][5].startswith("UNREACHABLE")


@pilot_test
async def test_cancelling_a_running_action_asks_first(lab, tmp_path):
    app = lab_app(lab, tmp_path, follow_containers=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        run = pilot.app.runs.current
        await wait_for(pilot, lambda: run.grid.counts(), 300, "the first task result")
        await pilot.press("c")
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("n")
        assert run.running and isinstance(pilot.app.screen, RunScreen)
        await pilot.press("c", "y")
        await finished(pilot)
        assert run.grid.status == "canceled"
        assert "canceled" in text_of(pilot.app.screen.query_one("#run-title", Static))


@pilot_test
async def test_launch_shows_rank_logs_and_metrics_then_stop_and_collect(lab, distributed, tmp_path):
    training = tiny_training()
    collected = tmp_path / "collected"
    app = lab_app(lab, tmp_path, extravars={**training, "hetero_collect_dir": str(collected)})
    stopped = False
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("L")
            await finished(pilot)
            grid = pilot.app.runs.current.grid
            assert grid.status == "successful", grid.raw_output[-2000:]
            await pilot.press("l")
            assert isinstance(pilot.app.screen, LogsScreen)
            view = pilot.app.screen.query_one(LogView)

            def every_rank_done() -> bool:
                ranks = app.metrics.ranks
                return all(r in ranks and ranks[r].points and ranks[r].done for r in range(3))

            await wait_for(pilot, every_rank_done, 600, "every rank's step lines and its end")
            await pilot.pause(0.5)
            assert {line.rank for line in app.logs.buffer.lines()} == {0, 1, 2}
            shown = log_view_lines(view)
            assert shown and all(row[:3] in ("[0]", "[1]", "[2]") for row in shown), shown
            await pilot.press("2")  # rank 1's tab
            assert {row[:3] for row in log_view_lines(view)} == {"[1]"}

            await pilot.press("m")
            assert isinstance(pilot.app.screen, MetricsScreen)

            def rows() -> list[str]:
                return [text_of(row) for row in pilot.app.screen.query(".rank-row").results(Static)]

            # each laptop's CPU % and memory, sampled over the same SSH as the logs (cpu %: two samples)
            def every_host_sampled() -> bool:
                shown = rows()
                return len(shown) == 3 and all(re.search(r"lap\d  cpu +\d+% · mem ", row) for row in shown)

            await wait_for(pilot, every_host_sampled, 60, "every laptop's CPU and memory")
            for rank, row in enumerate(rows()):
                assert f"lap{rank + 1}  cpu" in row and re.search(r"\d+ samples/s · share \d+", row), row
                assert " s = compute " in row, row

            await pilot.press("S")  # Stop
            await finished(pilot)
            current = pilot.app.runs.current
            assert current.name == "Stop" and current.grid.status == "successful"
            removed = grid_cells(grid_of(pilot), "Stop and remove them")
            assert all(removed[name].startswith("changed ") for name in LAPTOPS), removed
            stopped = True
            assert all(rank_containers(lab, name) == {} for name in LAPTOPS)

            await pilot.press("C")  # Collect
            await finished(pilot)
            assert pilot.app.runs.current.grid.status == "successful", pilot.app.runs.current.grid.raw_output[
                -2000:
            ]
            fetched = grid_cells(grid_of(pilot), "Fetch the archive to the controller")
            assert all(fetched[name].startswith("changed ") for name in LAPTOPS), fetched
            name = training["hetero_experiment_name"]
            for rank, laptop in enumerate(LAPTOPS):
                assert (collected / name / laptop / "logs" / f"rank_{rank}_metrics.json").is_file()
    finally:
        if not stopped:
            run_playbook("playbooks/stop.yml", lab.inventory, tmp_path / "stop")


def grid_of(pilot) -> RunGridTable:
    return pilot.app.screen.query_one(RunGridTable)


def play_rows(table) -> list[str]:
    """The play rows the grid shows, by the name before " - " ("▶ Launch - one container..." -> "Launch")."""
    return [row[0][2:].split(" - ")[0] for row in table_rows(table) if row[0].startswith("▶ ")]


@pilot_test
async def test_provision_then_distribute_brings_a_removed_image_back(lab, distributed, tmp_path):
    app = lab_app(lab, tmp_path, follow_containers=False)
    # lap3 loses its trainer image (and the rank container that uses it): Distribute must send it again.
    lab.docker("lap3", "rm", "-f", "hetero-rank-2")
    lab.docker("lap3", "rmi", "-f", "hetero-trainer:cpu", check=True)
    assert laptop_image_id(lab, "lap3") == ""
    laptops_see_a_whole_ufw(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("P")  # Provision
        assert isinstance(pilot.app.screen, RunScreen)
        await finished(pilot)
        run = pilot.app.runs.current
        assert (run.name, run.grid.status) == ("Provision", "successful"), run.grid.raw_output[-2000:]
        assert play_rows(grid_of(pilot)) == ["Provision"]
        asked = grid_cells(grid_of(pilot), "Ask whether a Docker engine already answers")
        assert sorted(asked) == LAPTOPS and all(cell.startswith("ok ") for cell in asked.values()), asked
        installed = grid_cells(grid_of(pilot), "Install the missing packages")
        assert all(cell.startswith("skipped") for cell in installed.values()), installed  # Docker answers

        await pilot.press("ctrl+p", *"distribute")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await finished(pilot)
        run = pilot.app.runs.current
        assert (run.name, run.grid.status) == ("Distribute", "successful"), run.grid.raw_output[-2000:]
        loaded = grid_cells(grid_of(pilot), "Load the image (zstd -dc | docker load)")
        assert loaded["lap3"].startswith("changed "), loaded
        assert all(loaded[name].startswith("skipped") for name in ("lap1", "lap2")), loaded
    assert laptop_image_id(lab, "lap3") == controller_image_id()


@pilot_test
async def test_up_launches_then_a_crashed_rank_restarts_in_the_logs_then_stop(lab, distributed, tmp_path):
    # Long enough to crash rank 1 mid-run; the restarted ranks resume from the newest snapshot.
    training = {**tiny_training(), "hetero_max_steps": 20, "hetero_save_every": 4, "hetero_dataset_size": 960}
    app = lab_app(lab, tmp_path, extravars=training)
    laptops_see_a_whole_ufw(lab)
    stopped = False
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("U")  # Up: all of site.yml
            await finished(pilot)
            run = pilot.app.runs.current
            assert (run.name, run.grid.status) == ("Up", "successful"), run.grid.raw_output[-2000:]
            plays = play_rows(grid_of(pilot))
            assert [p for p in ("Preflight", "Provision", "Distribute", "Launch") if p in plays] == [
                "Preflight",
                "Provision",
                "Distribute",
                "Launch",
            ], plays
            checked = grid_cells(grid_of(pilot), "Check that the trainer image is loaded here")
            assert all(checked[name].startswith("ok ") for name in LAPTOPS), checked
            for rank, name in enumerate(LAPTOPS):
                assert rank_containers(lab, name)[f"hetero-rank-{rank}"][0] in ("running", "exited"), name

            await pilot.press("l")
            view = pilot.app.screen.query_one(LogView)

            def rank1_stepped() -> bool:
                series = app.metrics.ranks.get(1)
                return bool(series and series.points)

            await wait_for(pilot, rank1_stepped, 600, "rank 1's first step")
            crash(lab, "lap2", "hetero-rank-1")  # SIGKILL inside the container; Docker restarts it

            def texts() -> list[tuple[int, str, bool]]:
                return [(line.rank, line.text, line.marker) for line in app.logs.buffer.lines()]

            def back_and_logging() -> bool:
                lines = texts()
                back = [
                    i
                    for i, (rank, text, marker) in enumerate(lines)
                    if rank == 1 and marker and "back" in text
                ]
                return bool(back) and any(
                    rank == 1 and not marker for rank, _, marker in lines[back[0] + 1 :]
                )

            await wait_for(pilot, back_and_logging, 600, "rank 1's stream to come back with new lines")
            await wait_for(pilot, lambda: (app.logs.restarts(1) or 0) >= 1, 60, "rank 1's restart count")
            await pilot.pause(0.5)
            markers = [text for rank, text, marker in texts() if rank == 1 and marker]
            assert "log stream ended" in markers[0] and "reconnecting" in markers[0], markers
            assert "log stream back, container restarts: " in markers[1], markers
            # What the user sees: rank 1's tab, filtered to the marker rows; the restart count on the tab.
            await pilot.press("2", "slash", *"log stream", "enter")
            shown = log_view_lines(view)
            assert shown[0].startswith("[1] ── log stream ended"), shown
            assert shown[1].startswith("[1] ── log stream back, container restarts: "), shown
            tab = pilot.app.screen.query_one(Tabs).query_one("#rank-1")
            assert str(tab.label).startswith("rank 1 ↻"), tab.label
            pilot.app.screen.refresh_status()
            assert "r1:stre↻" in text_of(pilot.app.screen.query_one("#log-status", Static))

            await pilot.press("i", "s")  # Status (status.yml) from the inventory: Docker's restart counts
            await finished(pilot)
            assert pilot.app.runs.current.grid.status == "successful"
            await pilot.press("escape")
            hosts = {row[0]: row for row in table_rows(pilot.app.screen.query_one("#hosts", DataTable))}
            assert "↻" in hosts["lap2"][5], hosts

            await pilot.press("S")  # Stop, with the job still running
            await finished(pilot)
            run = pilot.app.runs.current
            assert (run.name, run.grid.status) == ("Stop", "successful"), run.grid.raw_output[-2000:]
            removed = grid_cells(grid_of(pilot), "Stop and remove them")
            assert all(removed[name].startswith("changed ") for name in LAPTOPS), removed
            stopped = True
            assert all(rank_containers(lab, name) == {} for name in LAPTOPS)
    finally:
        if not stopped:
            run_playbook("playbooks/stop.yml", lab.inventory, tmp_path / "stop")
