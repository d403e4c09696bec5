"""Evaluation on a held-out split: never trained on, and what 2 ranks at 3:1 report is what one process gets
evaluating the same weights; the numbers reach the step records, the metrics file and the report."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from hetero_train import report
from hetero_train.cli import main
from hetero_train.data import SyntheticImages
from hetero_train.errors import BadInput
from hetero_train.evaluate import split
from hetero_train.models import build_model

from .runs import TINY, run_ranks, weights

pytestmark = pytest.mark.timeout(300)


def test_the_held_out_split_is_a_seeded_pick_apart_from_the_training_samples():
    data = SyntheticImages(200)
    train, held = split(data, 0.1, seed=3, world_size=2)
    assert len(held) == 20 and len(train) == 180
    assert set(train.indices).isdisjoint(held.indices)
    assert set(train.indices) | set(held.indices) == set(range(200))
    assert held.indices == split(data, 0.1, seed=3, world_size=2)[1].indices  # the same on every rank
    assert held.indices != split(data, 0.1, seed=4, world_size=2)[1].indices
    assert held.indices != list(range(180, 200))  # spread over the data, not its tail (sorted classes)
    assert split(data, 0.0, seed=3, world_size=2) == (data, None)
    with pytest.raises(BadInput, match=r"holds out 2 of 200 samples, fewer than one for each of the 4 rank"):
        split(data, 0.01, seed=0, world_size=4)


def test_two_ranks_evaluate_as_one_process_does_on_the_same_weights(tmp_path):
    out = ["--output-dir", str(tmp_path / "exp"), "--experiment-name", "e"]
    args = [*TINY, *out, "--dataset-size", "200", "--eval-fraction", "0.1", "--eval-every", "3",
            "--max-steps", "6", "--rank-shares", "3,1"]  # fmt: skip
    ranks = run_ranks(2, args, tmp_path)
    evals = [r.of("eval") for r in ranks]
    assert [e["step"] for e in evals[0]] == [3, 6] and evals[0] == [{**e, "rank": 0} for e in evals[1]]
    # One epoch is the 180 samples left for training (6 steps of 32, the last of 20): none held out.
    assert sum(sum(e["shares"]) for e in ranks[0].of("step")) == 180
    # One process, the final weights, the same held-out samples: the same loss and accuracy.
    _, held = split(SyntheticImages(200), 0.1, seed=0, world_size=1)
    model = build_model("simple_cnn", 10)
    model.load_state_dict(weights(tmp_path / "exp/e/checkpoints/final.pt"))
    model.eval()
    x, y = zip(*(held[i] for i in range(len(held))), strict=True)
    with torch.no_grad():
        out = model(torch.stack(x))
    loss = float(F.cross_entropy(out, torch.tensor(y), reduction="sum").double()) / len(held)
    accuracy = float((out.argmax(1) == torch.tensor(y)).double().mean())
    last = evals[0][-1]
    assert last["eval_loss"] == pytest.approx(loss, rel=1e-5, abs=1e-6)
    assert last["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6) and last["eval_samples"] == 20
    # The step records of those steps carry the numbers; the metrics file and the report too.
    steps = [e for e in ranks[0].of("step") if "eval_loss" in e]
    assert [(e["step"], e["eval_loss"], e["eval_accuracy"]) for e in steps] == [
        (e["step"], e["eval_loss"], e["eval_accuracy"]) for e in evals[0]
    ]
    saved = json.loads((tmp_path / "exp/e/logs/rank_0_metrics.json").read_text())["steps"]
    assert [s["eval_loss"] for s in saved if "eval_loss" in s] == [e["eval_loss"] for e in evals[0]]
    summary = report.summarize(tmp_path / "exp/e")
    line = f"evaluation: loss {last['eval_loss']}, accuracy {last['eval_accuracy']:.2%} on 20 held-out"
    assert line in summary


def test_too_small_a_held_out_split_is_one_line_exit_2_and_no_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    code = main(["--dataset-size", "100", "--eval-fraction", "0.001", "--output-dir", "out"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [
        "hetero-train: error: --eval-fraction 0.001: holds out 0 of 100 samples, fewer than one for each of"
        " the 1 rank(s); raise --eval-fraction (or --dataset-size)"
    ]
    assert list(tmp_path.iterdir()) == []
