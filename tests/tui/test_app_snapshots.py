"""Snapshot tests of the main screens at 80x24 with deterministic data (pytest-textual-snapshot).

Baselines live in tests/tui/__snapshots__/; after an intended change of the look, review and refresh them with
`pytest tests/tui/test_app_snapshots.py --snapshot-update`."""

from __future__ import annotations

from hetero_tui.app import HeteroApp
from hetero_tui.screens.run import RunScreen
from hetero_tui.services.events import HostResult, PlayStarted, RunFinished, TaskStarted
from hetero_tui.services.runs import RunRecord

from tests.tui.app_helpers import REPO, log_line, step_line

SIZE = (80, 24)


def example_app(tmp_path) -> HeteroApp:
    """The example inventory (read only here), no container following: only the data the test feeds."""
    return HeteroApp(
        REPO / "inventory" / "hosts.yml", artifacts=tmp_path, save_dir=tmp_path, follow_containers=False
    )


def test_inventory_screen(snap_compare, tmp_path):
    assert snap_compare(example_app(tmp_path), terminal_size=SIZE)


def _result(task: str, task_id: str, host: str, status: str, duration: float, msg: str = "") -> HostResult:
    res = {"changed": status == "changed", "msg": msg} if msg else {"changed": status == "changed"}
    return HostResult("Preflight", "p1", task, task_id, host, status, duration, res)


RUN_EVENTS = [
    PlayStarted("Preflight - check every host", "p1"),
    TaskStarted("p1", "Gather the hardware facts", "t1"),
    _result("Gather the hardware facts", "t1", "desktop", "ok", 1.2),
    _result("Gather the hardware facts", "t1", "gpu-box", "ok", 1.4),
    _result("Gather the hardware facts", "t1", "laptop", "unreachable", 10.0, "ssh: connect timed out"),
    TaskStarted("p1", "Install the NVIDIA container toolkit", "t2"),
    _result("Install the NVIDIA container toolkit", "t2", "desktop", "changed", 21.5),
    _result("Install the NVIDIA container toolkit", "t2", "gpu-box", "skipped", 0.0),
    TaskStarted("p1", "Check the rank plan", "t3"),
    _result("Check the rank plan", "t3", "desktop", "failed", 0.1, "host laptop: no hardware facts"),
    RunFinished("failed", 2, {}),
]


def test_run_grid_screen(snap_compare, tmp_path):
    async def show_run(pilot):
        record = RunRecord("Preflight", "snapshot-run")
        for event in RUN_EVENTS:
            record.grid.apply(event)
        await pilot.app.push_screen(RunScreen(record))
        await pilot.pause()

    assert snap_compare(example_app(tmp_path), terminal_size=SIZE, run_before=show_run)


def test_logs_screen(snap_compare, tmp_path):
    async def feed(pilot):
        await pilot.press("l")
        for i in range(30):
            rank = i % 3
            pilot.app.receive_log_line(
                log_line(rank, f"step {i // 3}: loss {2.0 / (1 + i):.3f} (rank {rank})", i)
            )
        await pilot.pause(0.3)
        await pilot.press("slash", *"loss 0\\.0[0-9]+", "enter", "t")
        await pilot.pause(0.3)

    assert snap_compare(example_app(tmp_path), terminal_size=SIZE, run_before=feed)


def test_metrics_screen(snap_compare, tmp_path):
    async def feed(pilot):
        await pilot.press("m")
        compute = {0: 0.1, 1: 0.12, 2: 0.35}
        shares = {0: 48, 1: 40, 2: 16}
        for step in range(1, 25):
            for rank in range(3):
                wobble = 0.01 * (step % 4)
                text = step_line(
                    rank, step, shares[rank], compute[rank] + wobble, step_s=0.4, loss=2.3 / (1 + 0.2 * step)
                )
                pilot.app.receive_log_line(log_line(rank, text, step))
        await pilot.pause(0.5)

    assert snap_compare(example_app(tmp_path), terminal_size=SIZE, run_before=feed)
