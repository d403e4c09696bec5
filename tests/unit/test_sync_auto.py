"""`--sync auto` and the mode a left-out rank's line names (hetero_train/sync_choice.py): the cost model per
mode on made-up timings, the bytes PowerSGD sends as PowerSGD itself counts them, and real 2-rank runs
(gloo on the CPU) that choose once, say what they predicted, and keep their mode when resumed."""

from __future__ import annotations

import json

import pytest

from hetero_train import sync_choice
from hetero_train.costmodel import Affine
from hetero_train.models import build_model
from hetero_train.reform import leave_line

from .runs import TINY, run_ranks

pytestmark = pytest.mark.timeout(300)

FAST, SLOW = Affine(0.002, 0.0005), Affine(0.002, 0.0015)  # s per step, s per sample
FRACTIONS = {"exact": 1.0, "bf16": 0.5, "powersgd": 0.05, "local": 0.04}  # local: H = 25


def _found(comm_s: float) -> dict:
    return sync_choice.forecasts([FAST, SLOW], 64, comm_s, "exact", FRACTIONS, names=["lap1", "lap2"])


def test_a_fast_link_keeps_the_exact_sum():
    found = _found(0.0001)
    assert all(f.best.ranks == (0, 1) for f in found.values())
    assert sync_choice.choose(found) == "exact"  # the others are predicted faster, but by less than MARGIN


def test_a_slow_link_takes_the_mode_that_keeps_both_ranks_and_is_clearly_faster():
    found = _found(0.05)
    assert found["exact"].best.ranks == (0,) and found["bf16"].best.ranks == (0,)
    assert found["powersgd"].best.ranks == (0, 1)
    assert sync_choice.choose(found) == "powersgd"
    # local is predicted faster still, but not by MARGIN over powersgd: the more exact mode stays
    assert found["local"].best.samples_per_s > found["powersgd"].best.samples_per_s


def test_the_left_out_line_names_the_mode_that_would_have_kept_the_rank():
    found = _found(0.05)
    advice = sync_choice.advice(found, "exact", [1])[1]
    predicted = found["powersgd"].best.samples_per_s
    assert advice == (
        f"hetero_sync: powersgd would keep it ({predicted:.0f} samples/s predicted);"
        " hetero_leave_out_percent: 0 keeps every rank"
    )
    assert leave_line(1, "lap2", 0.05, 0.01, None, advice).endswith(f"faster without it ({advice})")
    hopeless = sync_choice.advice(_found(50.0), "exact", [1])[1]
    assert hopeless.startswith("no sync mode keeps it on this link")


def test_powersgd_fraction_counts_what_powersgd_sends():
    # a 64x3x3x3 convolution is sent as two rank-2 factors of 64 and 27 rows; its bias as it is
    assert sync_choice.powersgd_fraction([(64, 3, 3, 3), (64,)], 2) == pytest.approx(
        (2 * (64 + 27) + 64) / (64 * 27 + 64)
    )
    # a matrix that rank-r factors would not halve goes whole
    assert sync_choice.powersgd_fraction([(4, 4)], 2) == 1.0


@pytest.fixture(scope="module")
def auto_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto")
    args = [*TINY, "--save-every", "0", "--sync", "auto", "--rank-shares", "3,1"]
    args += ["--output-dir", str(root / "out")]
    first = run_ranks(2, [*args, "--max-steps", "4"], root)
    again = run_ranks(2, [*args, "--max-steps", "6"], root)
    return root, first, again


def test_auto_chooses_once_for_every_rank_and_says_what_it_predicted(auto_runs):
    root, first, _ = auto_runs
    choices = [r.of("sync_choice")[0] for r in first]
    chosen = choices[0]["chosen"]
    assert {c["chosen"] for c in choices} == {chosen} and chosen in sync_choice.ORDER
    assert set(choices[0]["predicted_samples_per_s"]) == set(sync_choice.ORDER)
    assert [r.of("sync")[0]["mode"] for r in first] == [chosen, chosen]  # what the steps ran
    assert f"--sync auto chose {chosen}: predicted samples/s exact " in first[0].stderr
    # PowerSGD's own count, had it been chosen, is what the planner predicted from the shapes
    shapes = [tuple(p.shape) for p in build_model("simple_cnn", 10).parameters()]
    predicted = choices[0]["sent_fraction"]["powersgd"]
    assert predicted == pytest.approx(sync_choice.powersgd_fraction(shapes, 2), abs=1e-5)
    saved = json.loads((root / "out/simple_cnn_synthetic_image/configs/sync_auto_rank_0.json").read_text())
    assert saved["chosen"] == chosen


def test_a_resumed_auto_run_keeps_the_mode_its_snapshots_were_taken_in(auto_runs):
    _root, first, again = auto_runs
    chosen = first[0].of("sync_choice")[0]["chosen"]
    assert again[0].of("resume")[0]["step"] == 4
    assert [(e["chosen"], e["reason"]) for r in again for e in r.of("sync_choice")] == [
        (chosen, "resume")
    ] * 2
    assert "--sync auto keeps " + chosen in again[0].stderr


def test_the_powersgd_fraction_matches_powersgds_own_count(tmp_path):
    """The planner's count against what PowerSGD reports once it compresses (sync event's sent_fraction)."""
    args = [*TINY, "--max-steps", "4", "--save-every", "0", "--sync", "powersgd", "--powersgd-warmup", "2"]
    results = run_ranks(2, [*args, "--output-dir", str(tmp_path / "out")], tmp_path)
    measured = results[0].of("sync")[0]["sent_fraction"]
    shapes = [tuple(p.shape) for p in build_model("simple_cnn", 10).parameters()]
    assert sync_choice.powersgd_fraction(shapes, 2) == pytest.approx(measured, rel=0.02)
