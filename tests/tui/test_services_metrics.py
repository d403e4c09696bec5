"""Metrics service: real trainer output (2 ranks here, a lab container), crafted straggler lines."""

from __future__ import annotations

import json
import time

import pytest
from hetero_tui.services.inventory import Inventory
from hetero_tui.services.logbuffer import LogBuffer
from hetero_tui.services.logs import HostConnection, LogStream
from hetero_tui.services.metrics import ClusterMetrics, parse_line

from tests.tui.app_helpers import step_line
from tests.unit.runs import TINY, run_ranks

STEPS = 8


@pytest.fixture(scope="module")
def two_rank_lines(tmp_path_factory) -> dict[int, list[str]]:
    """Every stdout and stderr line of a real 2-rank run of the trainer on this machine."""
    out = tmp_path_factory.mktemp("metrics")
    args = [*TINY, "--max-steps", str(STEPS), "--output-dir", str(out), "--experiment-name", "tui"]
    return {r.rank: (r.stderr + r.stdout).splitlines() for r in run_ranks(2, args, cwd=out)}


def test_real_trainer_lines_become_per_rank_series(two_rank_lines):
    metrics = ClusterMetrics()
    for rank, lines in two_rank_lines.items():
        for line in lines:  # progress text on stderr is mixed in, as in a container log
            metrics.feed_line(line, rank=rank)
    assert sorted(metrics.ranks) == [0, 1]
    assert metrics.world_size == 2 and metrics.backend == "gloo"
    steps = [json.loads(line) for line in two_rank_lines[0] if '"event": "step"' in line]
    assert metrics.ranks[0].values("loss") == [s["loss"] for s in steps]
    assert len(metrics.ranks[1].values("samples_per_s")) == STEPS
    # the step's loss is all-reduced: both ranks report the same curve
    assert metrics.ranks[0].values("loss") == metrics.ranks[1].values("loss")
    # shares of a step sum to the global batch (32 in TINY)
    for share0, share1 in zip(
        metrics.ranks[0].values("share"), metrics.ranks[1].values("share"), strict=True
    ):
        assert share0 + share1 == 32
    assert metrics.shares is not None and sum(metrics.shares) == 32
    assert all(series.done for series in metrics.ranks.values())
    # what the metrics screen shows beside the ranks: the sync mode, the cluster's loss, where steps go
    assert metrics.planner.sync == "exact"
    assert metrics.loss_series() == ([s["step"] for s in steps], [s["loss"] for s in steps])
    for rank, split in metrics.time_split().items():
        recent = [s for s in metrics.ranks[rank].points][-metrics.window :]
        # the trainer rounds compute_s, comm_s and step_s to 6 decimals each: their sums differ by ~1e-6
        assert split.step_s == pytest.approx(sum(p.step_s for p in recent) / len(recent), abs=2e-6)


def test_total_throughput_and_efficiency_from_real_lines(two_rank_lines):
    metrics = ClusterMetrics(window=5)
    for rank, lines in two_rank_lines.items():
        for line in lines:
            metrics.feed_line(line, rank=rank)
    total = metrics.total_throughput()
    reported = [
        json.loads(line)["global_samples_per_s"]
        for lines in two_rank_lines.values()
        for line in lines
        if '"event": "step"' in line and json.loads(line)["step"] > STEPS - 5
    ]
    # the cluster figure lies within what the ranks themselves reported over the same steps
    assert min(reported) <= total <= max(reported)
    eta = metrics.efficiency()
    assert 0 < eta <= 1  # compute-only speed is an upper bound of what the cluster delivers
    assert set(metrics.compute_throughput()) == {0, 1}


def test_efficiency_definition_on_crafted_steps():
    metrics = ClusterMetrics(window=10)
    for step in range(1, 4):
        metrics.feed_line(step_line(0, step, 60, 0.5, 0.6))
        metrics.feed_line(step_line(1, step, 40, 0.5, 0.6))
    # T = 100 samples / 0.6 s; compute-only: 60/0.5 + 40/0.5 = 200 samples/s; η = 166.7 / 200
    assert metrics.total_throughput() == pytest.approx(100 / 0.6)
    assert metrics.compute_throughput() == {0: pytest.approx(120), 1: pytest.approx(80)}
    assert metrics.efficiency() == pytest.approx((100 / 0.6) / 200)


def test_throughput_waits_for_every_rank():
    metrics = ClusterMetrics()
    metrics.feed_line(json.dumps({"event": "hardware", "rank": 0, "world_size": 2, "backend": "gloo"}))
    metrics.feed_line(step_line(0, 1, 50, 0.5, 0.5))
    assert metrics.total_throughput() is None and metrics.efficiency() is None


def test_a_slow_rank_is_flagged_and_cleared_once_balanced():
    metrics = ClusterMetrics(window=5)
    for step in range(1, 6):
        metrics.feed_line(step_line(0, step, 40, 0.20, 0.62))
        metrics.feed_line(step_line(1, step, 30, 0.22, 0.62))
        metrics.feed_line(step_line(2, step, 30, 0.60, 0.62))  # 3x the others' compute time
    assert metrics.stragglers() == {2}
    for step in range(6, 11):  # the balancer moved samples away from rank 2
        metrics.feed_line(step_line(0, step, 45, 0.21, 0.25))
        metrics.feed_line(step_line(1, step, 40, 0.22, 0.25))
        metrics.feed_line(step_line(2, step, 15, 0.23, 0.25))
    assert metrics.stragglers() == set()


def test_memory_stays_bounded_and_restarts_keep_one_point_perstep_line():
    metrics = ClusterMetrics(maxlen=50)
    for step in range(1, 201):
        metrics.feed_line(step_line(0, step, 100, 0.1, 0.1))
    assert len(metrics.ranks[0].points) == 50 and metrics.ranks[0].latest.step == 200
    for step in range(195, 198):  # a resumed run replays from its snapshot
        metrics.feed_line(step_line(0, step, 100, 0.1, 0.1, loss=0.5))
    assert [p.step for p in metrics.ranks[0].points][-3:] == [195, 196, 197]
    assert metrics.ranks[0].latest.loss == 0.5


@pytest.mark.parametrize(
    "line",
    ["rank 0: step 3/8 (38%) loss 2.3 120 samples/s", "{not json", '{"no_event": 1}', "", "[1, 2]"],
)
def test_other_lines_are_ignored(line):
    metrics = ClusterMetrics()
    assert parse_line(line) is None and metrics.feed_line(line, rank=0) is None
    assert metrics.ranks == {}


@pytest.mark.lab
def test_metrics_from_a_trainer_container_log_on_a_lab_laptop(lab, trainer_image):
    """The whole path the TUI uses: a real trainer in a container, its log over SSH, metrics from it."""
    lab.load_image("lap1", trainer_image)
    name = "hetero-tui-metrics"
    lab.docker("lap1", "rm", "-f", name)
    args = ["--max-steps", "6", "--global-batch-size", "16", "--dataset-size", "200", "--log-every", "1"]
    lab.docker("lap1", "run", "-d", "--name", name, "--network", "host", trainer_image, *args,
               "--output-dir", "/tmp/exp", check=True)  # fmt: skip
    inventory = Inventory.load(lab.inventory)
    metrics, buffer = ClusterMetrics(), LogBuffer()

    def on_line(line):
        buffer.append(line)
        metrics.feed_line(line.text, rank=line.rank)  # the app does this on its UI thread

    stream = LogStream(
        HostConnection.from_vars("lap1", inventory.host_vars("lap1")), 0, on_line, container=name
    )
    stream.start()
    try:
        deadline = time.monotonic() + 300
        while not (0 in metrics.ranks and metrics.ranks[0].done) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stream.stop()
        lab.docker("lap1", "rm", "-f", name)
    assert metrics.ranks[0].done, "\n".join(line.text for line in buffer.lines()[-20:])
    assert [p.step for p in metrics.ranks[0].points] == [1, 2, 3, 4, 5, 6]
    assert metrics.world_size == 1 and metrics.total_throughput() > 0
    assert buffer.lines(pattern=r"samples/s")  # the progress lines (stderr) are in the log view too
