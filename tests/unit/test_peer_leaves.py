"""A rank that leaves mid-run (`--peer-timeout`): real trainer processes with gloo on this machine, one of
them frozen (SIGSTOP: a closed lid, no error on any connection) or killed (its connections reset). The
others notice within the peer timeout through the heartbeats, re-form the world without it and go on
from the step they are at, to the weights of one process trained on the same samples."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from hetero_train import report

from .runs import TINY, RankResult, rank_envs, relative_difference, run_ranks, start_rank, weights

pytestmark = pytest.mark.timeout(300)

STEPS = 60
PEER_TIMEOUT_S = 3
# 64 samples a step (TINY has 32): the survivors still train for seconds after the leave, while the frozen
# rank, woken, finds out it was counted out.
WORK = ["--max-steps", str(STEPS), "--global-batch-size", "64", "--dataset-size", "4000"]
ELASTIC = [*WORK, "--peer-timeout", str(PEER_TIMEOUT_S), "--save-every", "10"]


class Watched:
    """A running rank whose events are read as they come, to act when it reaches a step or an event."""

    def __init__(self, rank: int, proc: subprocess.Popen):
        self.rank, self.proc, self.lines = rank, proc, []
        self.at_step, self.stepped = 0, threading.Event()
        self.world = threading.Event()  # it re-formed its world
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "step" and event["step"] >= self.at_step > 0:
                self.stepped.set()
            if event.get("event") == "world":
                self.world.set()

    def result(self, timeout: float = 240) -> RankResult:
        err = self.proc.stderr.read()
        self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return RankResult(self.rank, self.proc.returncode, "".join(self.lines), err)


def run_and_signal(world: int, root: Path, victim: int, sig: signal.Signals, extra=()) -> list[RankResult]:
    """`world` ranks; at the victim's step 15, `sig` to it. A frozen one (SIGSTOP) is woken (SIGCONT) once
    the others went on without it, while they still train."""
    args = [*TINY, *ELASTIC, *extra, "--output-dir", str(root)]
    ranks = [Watched(r, start_rank(env, args, root)) for r, env in enumerate(rank_envs(world))]
    ranks[victim].at_step = 15
    assert ranks[victim].stepped.wait(180), "the victim never reached step 15"
    ranks[victim].proc.send_signal(sig)
    if sig == signal.SIGSTOP:
        survivor = ranks[1 if victim == 0 else 0]
        assert survivor.world.wait(120), "the others did not go on without the frozen rank"
        ranks[victim].proc.send_signal(signal.SIGCONT)
    return [r.result() for r in ranks]


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("single")
    run_ranks(1, [*TINY, *WORK, "--output-dir", str(root)], root)
    return root / "simple_cnn_synthetic_image" / "checkpoints" / "final.pt"


def assert_went_on(results: list[RankResult], survivors: list[int], gone: int, root: Path, single: Path):
    for rank in survivors:
        r = results[rank]
        assert r.returncode == 0, f"rank {rank}:\n{r.stderr[-3000:]}"
        (world,) = r.of("world")
        assert (world["ranks"], world["left"], world["generation"]) == (survivors, [gone], 1)
        assert world["step"] >= 15
        # No step lost or taken twice: each is logged once, in order, and the run ends at the last.
        assert [e["step"] for e in r.of("step")] == list(range(1, STEPS + 1))
        assert r.of("done")[0]["step"] == STEPS
    line = f"rank {gone} ("
    said = [x for x in results[survivors[0]].stderr.splitlines() if x.startswith("hetero-train: step ")]
    assert len(said) == 1 and line in said[0] and f"no heartbeat for {PEER_TIMEOUT_S} s" in said[0], said
    assert f"ranks {survivors} go on from step " in said[0]
    exp = root / "simple_cnn_synthetic_image"
    assert relative_difference(weights(exp / "checkpoints" / "final.pt"), weights(single)) < 1e-5
    summary = report.summarize(exp)
    assert f"ranks {survivors}" in summary and f"rank {gone} (" in summary, summary


def test_a_frozen_rank_is_left_behind_and_the_others_end_at_the_weights_of_one_process(tmp_path, single):
    results = run_and_signal(3, tmp_path, 2, signal.SIGSTOP)
    assert_went_on(results, [0, 1], 2, tmp_path, single)
    # Woken while the others train on (a lid opened again): it learns it was counted out and stops, exit 0.
    woken = results[2]
    assert woken.returncode == 0, woken.stderr[-3000:]
    (out,) = woken.of("left_out")
    assert out["rank"] == 2 and "was counted out" in out["reason"]


def test_a_killed_rank_is_left_behind_the_same_way(tmp_path, single):
    results = run_and_signal(3, tmp_path, 1, signal.SIGKILL)
    assert results[1].returncode == -signal.SIGKILL
    assert_went_on(results, [0, 2], 1, tmp_path, single)


def test_when_the_store_hosts_laptop_leaves_the_others_stop_with_one_line_and_exit_3(tmp_path):
    results = run_and_signal(2, tmp_path, 0, signal.SIGKILL)
    other = results[1]
    assert other.returncode == 3, other.stderr[-3000:]
    lines = [x for x in other.stderr.splitlines() if x.startswith("hetero-train: rank 1:")]
    assert len(lines) == 1 and "the rendezvous store at 127.0.0.1:" in lines[0], other.stderr[-2000:]
    assert f"did not answer for {PEER_TIMEOUT_S} s" in lines[0] and "snapshots up to step 10" in lines[0]


def test_below_min_ranks_the_survivor_stops_with_its_snapshots(tmp_path):
    results = run_and_signal(2, tmp_path, 1, signal.SIGKILL, extra=["--min-ranks", "2"])
    master = results[0]
    assert master.returncode == 3, master.stderr[-3000:]
    lines = [x for x in master.stderr.splitlines() if x.startswith("hetero-train: rank 0:")]
    assert len(lines) == 1 and "are fewer than hetero_min_ranks 2" in lines[0], master.stderr[-2000:]
