"""Snapshot tests of the main screens at 80x24 with deterministic data (pytest-textual-snapshot).

Baselines live in tests/tui/__snapshots__/; after an intended change of the look, review and refresh them with
`pytest tests/tui/test_app_snapshots.py --snapshot-update`."""

from __future__ import annotations

import json

from hetero_tui.app import HeteroApp
from hetero_tui.screens.run import RunScreen
from hetero_tui.services.events import HostResult, PlayStarted, RunFinished, TaskStarted
from hetero_tui.services.hoststats import GpuStat, HostStats
from hetero_tui.services.runs import RunRecord

from tests.tui.app_helpers import REPO, log_line, step_line
from tests.unit.collected_runs import two_experiments

SIZE = (80, 24)


def example_app(tmp_path) -> HeteroApp:
    """The example inventory (read only here), no container following: only the data the test feeds."""
    return HeteroApp(
        REPO / "inventory" / "hosts.yml", artifacts=tmp_path, save_dir=tmp_path, follow_containers=False
    )


def test_inventory_screen(snap_compare, tmp_path):
    """The first screen on the shipped example: it says so, and offers your own inventory or local.yml."""
    assert snap_compare(example_app(tmp_path), terminal_size=SIZE)


def test_a_playbook_on_placeholder_addresses_asks(snap_compare, tmp_path):
    assert snap_compare(example_app(tmp_path), terminal_size=SIZE, press=["p"])


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


def feed_metrics(app: HeteroApp) -> None:
    """24 steps of 3 ranks (rank 2 the straggler), a plan, a forecast, two evaluations, the hosts' figures."""
    compute = {0: 0.1, 1: 0.12, 2: 0.35}
    shares = {0: 48, 1: 40, 2: 16}
    for step in range(1, 25):
        for rank in range(3):
            wobble = 0.01 * (step % 4)
            text = step_line(
                rank, step, shares[rank], compute[rank] + wobble, step_s=0.4, loss=2.3 / (1 + 0.2 * step)
            )
            app.receive_log_line(log_line(rank, text, step))
        if step % 12 == 0:
            evaluation = {"event": "eval", "rank": 0, "step": step, "eval_loss": 2.5 / (1 + 0.15 * step)}
            app.receive_log_line(log_line(0, json.dumps(evaluation), step))
    plan = {"event": "plan", "rank": 0, "step": 20, "shares": [48, 40, 16], "reason": "dynamic"}
    forecast = {"event": "forecast", "rank": 0, "step": 20, "predicted_samples_per_s": 250.0}
    forecast["subsets"] = {"0": 180.0, "1": 150.0, "2": 50.0}
    for event in ({**plan, "sync": "exact"}, forecast):
        app.receive_log_line(log_line(0, json.dumps(event), 30))
    app.hoststats.receive(HostStats("lap1", 83.0, 3.1 * 1024, 7.7 * 1024))
    gpu = GpuStat(0, "RTX", 97.0, 5.1 * 1024, 8 * 1024)
    app.hoststats.receive(HostStats("lap2", 41.0, 2 * 1024, 15.5 * 1024, (gpu,)))
    app.hoststats.receive(HostStats("lap3", 12.0, 1.2 * 1024, 3.8 * 1024))


def test_metrics_screen_before_any_step(snap_compare, tmp_path):
    """Says what to do to see metrics; no bare widget names."""
    assert snap_compare(example_app(tmp_path), terminal_size=SIZE, press=["m"])


def test_metrics_screen(snap_compare, tmp_path):
    async def feed(pilot):
        await pilot.press("m")
        feed_metrics(pilot.app)
        await pilot.pause(1.0)

    assert snap_compare(example_app(tmp_path), terminal_size=SIZE, run_before=feed)


def test_metrics_plots(snap_compare, tmp_path):
    async def feed(pilot):
        await pilot.press("m")
        feed_metrics(pilot.app)
        await pilot.press("g")
        await pilot.pause(1.0)

    assert snap_compare(example_app(tmp_path), terminal_size=SIZE, run_before=feed)


def test_experiments_screen(snap_compare, tmp_path, monkeypatch):
    """Collected experiments side by side (the folder named relative to a fixed working directory)."""
    monkeypatch.chdir(tmp_path)
    two_experiments(tmp_path / "experiments")
    app = HeteroApp(
        REPO / "inventory" / "local.yml",
        extravars={"hetero_collect_dir": "experiments"},
        artifacts=tmp_path,
        follow_containers=False,
    )
    assert snap_compare(app, terminal_size=SIZE, press=["E"])
