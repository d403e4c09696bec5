"""Sync modes keep the step's SUM of unequal shares: two ranks at 3:1 against one process on the same
global batch. exact matches it, with micro-batches too; bf16 and powersgd send fewer bytes and stay within
their stated tolerance (docs/trainer.md), powersgd's warm-up steps are exact, and a powersgd run resumed
from a snapshot (its error feedback in it) continues as if never stopped."""

from __future__ import annotations

import pytest

from .runs import TINY, relative_difference, run_ranks, weights

pytestmark = pytest.mark.timeout(300)

STEPS = ["--max-steps", "10", "--save-every", "0"]
FINAL = "simple_cnn_synthetic_image/checkpoints/final.pt"
# Relative weight difference from one process after 10 steps of simple_cnn, as docs/trainer.md states
# them: measured 7.7e-5 (bf16) and 4.1e-3 (powersgd, rank 2, 3 warm-up steps) on 2026-11-30.
TOLERANCE = {"exact": 1e-5, "bf16": 5e-4, "powersgd": 2e-2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sync")
    out = {"single": run_ranks(1, [*TINY, *STEPS, "--output-dir", str(root / "single")], root)}
    for mode in TOLERANCE:
        args = [*TINY, *STEPS, "--rank-shares", "3,1", "--sync", mode, "--powersgd-warmup", "3"]
        out[mode] = run_ranks(2, [*args, "--output-dir", str(root / mode)], root)
    micro = [*TINY, *STEPS, "--rank-shares", "3,1", "--micro-batch", "5"]  # shares 24 and 8: 5 and 2 chunks
    out["micro"] = run_ranks(2, [*micro, "--output-dir", str(root / "micro")], root)
    # powersgd stopped after step 6, compressing since step 4, and resumed to step 10
    again = [*TINY, "--save-every", "0", "--rank-shares", "3,1", "--sync", "powersgd"]
    again += ["--powersgd-warmup", "3", "--output-dir", str(root / "resumed")]
    out["stopped"] = run_ranks(2, [*again, "--max-steps", "6"], root)
    out["resumed"] = run_ranks(2, [*again, "--max-steps", "10"], root)
    for results in out.values():
        for r in results:
            assert r.returncode == 0, r.stderr[-2000:]
    return root, out


@pytest.mark.parametrize("mode", list(TOLERANCE))
def test_each_mode_reaches_the_single_process_weights_within_its_tolerance(runs, mode):
    root, out = runs
    diff = relative_difference(weights(root / mode / FINAL), weights(root / "single" / FINAL))
    assert diff < TOLERANCE[mode]
    if mode != "exact":
        assert diff > TOLERANCE["exact"]  # it really sent something other than the fp32 sum
    assert [e["mode"] for e in out[mode][0].of("sync")] == [mode]


def test_powersgd_is_exact_while_warming_up_then_sends_a_few_percent(runs):
    _root, out = runs
    single = [e["loss"] for e in out["single"][0].of("step")]
    compressed = [e["loss"] for e in out["powersgd"][0].of("step")]
    assert compressed[:3] == pytest.approx(single[:3], rel=1e-6)  # --powersgd-warmup 3: exact steps
    assert compressed[5:] != pytest.approx(single[5:], rel=1e-6)
    assert out["powersgd"][0].of("sync")[0]["sent_fraction"] < 0.1


def test_micro_batches_on_unequal_shares_take_the_single_process_step(runs):
    root, out = runs
    diff = relative_difference(weights(root / "micro" / FINAL), weights(root / "single" / FINAL))
    assert diff <= TOLERANCE["exact"]


def test_a_resumed_powersgd_run_equals_the_uninterrupted_one(runs):
    root, out = runs
    assert [r.of("resume")[0]["step"] for r in out["resumed"]] == [6, 6]
    diff = relative_difference(weights(root / "resumed" / FINAL), weights(root / "powersgd" / FINAL))
    assert diff <= TOLERANCE["exact"]


@pytest.mark.torchvision
def test_powersgd_on_unequal_shares_of_a_many_bucket_model_trains_to_the_end(tmp_path):
    """resnet18's gradients fill several DDP buckets: the hook sends each bucket's Q from a callback while
    backward goes on, and at 3:1 the ranks' backwards run at different speeds. Before each bucket was
    finished in the hook, gloo paired collectives of different sizes at the first compressed step and
    aborted ('Received data size doesn't match expected size')."""
    args = [*TINY, "--model", "resnet18", "--max-steps", "5", "--save-every", "0", "--rank-shares", "3,1",
            "--sync", "powersgd", "--powersgd-warmup", "2"]  # fmt: skip
    args += ["--output-dir", str(tmp_path / "out")]
    results = run_ranks(2, args, tmp_path)
    assert [r.returncode for r in results] == [0, 0]
    assert [e["step"] for e in results[0].of("done")] == [5]
