"""--optimizer, --weight-decay and --warmup-steps: the learning rate warms up linearly, then decays along a
cosine; a run stopped (mid-warm-up) and resumed takes the very steps of an uninterrupted one, AdamW's
moments and the schedule's position included."""

from __future__ import annotations

import json

import pytest
import torch

from hetero_train.cli import main
from hetero_train.optim import WarmupCosine

from .runs import TINY, relative_difference, weights
from .test_datasets import env  # noqa: F401 - the fixture


def test_the_learning_rate_warms_up_linearly_then_decays_to_zero():
    factor = WarmupCosine(4, 12)
    assert [factor(s) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert factor(8) == pytest.approx(0.5) and factor(12) == pytest.approx(0.0)
    assert all(factor(s) > factor(s + 1) for s in range(4, 12))
    assert WarmupCosine(0, 10)(0) == 1.0  # no warm-up: the cosine from the first step


@pytest.mark.usefixtures("env")  # in tmp_path, one rank, one torch thread
def test_adamw_with_warm_up_resumes_to_the_uninterrupted_weights(tmp_path, capsys):
    args = [*TINY, "--optimizer", "adamw", "--weight-decay", "0.05", "--warmup-steps", "4"]
    args += ["--output-dir", "out"]
    assert main([*args, "--max-steps", "8", "--experiment-name", "whole"]) == 0
    lrs = [e["lr"] for e in map(json.loads, capsys.readouterr().out.splitlines()) if e["event"] == "step"]
    # Each record's lr is the next step's: 0.5, 0.75, 1 of the peak after steps 1-3, then it decays.
    assert lrs[:3] == pytest.approx([0.005, 0.0075, 0.01]) and lrs[3] > lrs[-1] > 0
    assert main([*args, "--max-steps", "3", "--experiment-name", "split"]) == 0
    snapshot = torch.load(tmp_path / "out/split/checkpoints/rank_0/step_00000003.pt", weights_only=False)
    assert "exp_avg_sq" in snapshot["optimizer"]["state"][0] and snapshot["scheduler"]["last_epoch"] == 3
    assert main([*args, "--max-steps", "8", "--experiment-name", "split"]) == 0
    whole, split = (weights(tmp_path / f"out/{name}/checkpoints/final.pt") for name in ("whole", "split"))
    assert relative_difference(split, whole) <= 1e-6
