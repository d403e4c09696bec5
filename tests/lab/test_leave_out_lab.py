"""Never slower than the best machine alone, on real links: two laptops, lap2's link shaped to 5 Mbit/s, so
the all-reduce of simple_cnn's gradients costs about a second a step against a few milliseconds of compute.
At the first re-plan the cost model leaves rank 1 (lap2) out: it exits 0 with its one line, and rank 0
finishes alone, at the weights of one process trained on the same global batch and seed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import pytest

from tests.lab.config import LAPTOP_IFNAME, REPO
from tests.unit.runs import TINY, RankResult, free_port, relative_difference, run_ranks, weights

pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]

STEPS = ["--max-steps", "8"]
ARGS = ["--enable-load-balancing", "--load-balance-policy", "dynamic", "--rebalance-every", "2"]


@pytest.fixture
def out():
    # Under the checkout: the laptops share it with this machine (each has its own /tmp).
    path = REPO / "build" / f"leave-out-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_rank_behind_a_slow_link_is_left_out_and_the_other_finishes_exactly(lab, out):
    master = lab.laptop("lap1").address
    env = ["env", "OMP_NUM_THREADS=1", f"GLOO_SOCKET_IFNAME={LAPTOP_IFNAME}", f"MASTER_ADDR={master}",
           f"MASTER_PORT={free_port()}", "WORLD_SIZE=2", "LOCAL_RANK=0"]  # fmt: skip
    args = [*TINY, *STEPS, *ARGS, "--leave-out-percent", "10", "--output-dir", str(out / "cluster")]
    with lab.shaped({"lap2": "5mbit"}):
        procs = [
            subprocess.Popen(
                [*lab.nsenter(lap), *env, f"RANK={rank}", sys.executable, "-m", "hetero_train", *args],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for rank, lap in enumerate(["lap1", "lap2"])
        ]
        results = []
        for rank, p in enumerate(procs):
            stdout, stderr = p.communicate(timeout=300)
            results.append(RankResult(rank, p.returncode, stdout, stderr))
    first, second = results
    assert (first.returncode, second.returncode) == (0, 0), first.stderr[-2000:] + second.stderr[-2000:]
    left = second.of("left_out")
    kept = first.of("forecast")
    assert [(e["rank"], e["hostname"], e["exit_code"]) for e in left] == [(1, "lap2", 0)], kept
    lines = [line for line in second.stderr.splitlines() if "left out" in line]
    assert len(lines) == 1 and lines[0].startswith("hetero-train: rank 1 (lap2) left out: its link adds ")
    assert left[0]["link_s"] > left[0]["compute_saves_s"]
    assert first.of("world")[0]["ranks"] == [0]
    assert first.of("done")[0]["step"] == 8
    run_ranks(1, [*TINY, *STEPS, "--output-dir", str(out / "single")], out)
    final = "simple_cnn_synthetic_image/checkpoints/final.pt"
    assert relative_difference(weights(out / "cluster" / final), weights(out / "single" / final)) < 1e-5
