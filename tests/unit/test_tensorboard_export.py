"""`hetero-report --tensorboard DIR`: collected experiments become TensorBoard runs that TensorBoard itself
reads back with the right tags, steps and values; bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hetero_train import report
from hetero_train.metrics import MetricsFile
from tests.unit.collected_runs import step_record, write_experiment


def read_run(run) -> dict[str, list[tuple[int, float, float]]]:
    """tag -> [(step, value, wall time)] as TensorBoard reads the run's event files."""
    accumulator = EventAccumulator(str(run))
    accumulator.Reload()
    return {
        tag: [(e.step, e.value, e.wall_time) for e in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


@pytest.fixture
def collected(tmp_path):
    root = tmp_path / "experiments"
    write_experiment(root, "cnn-exact", shares={0: 40, 1: 24}, steps=6, evaluate_at=6)
    write_experiment(root, "cnn-powersgd", shares={0: 32, 1: 32}, steps=4, sync="powersgd")
    return root


def test_one_run_per_experiment_and_a_tag_per_rank_and_figure(collected, tmp_path, capsys):
    out = tmp_path / "tb"
    assert report.main(["--tensorboard", str(out), str(collected)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["cnn-exact", "cnn-powersgd"]
    assert f"tensorboard --logdir {out}" in capsys.readouterr().out
    exact = read_run(out / "cnn-exact")
    figures = ["samples_per_s", "share", "loss", "compute_s", "comm_s"]
    assert set(exact) == {f"{f}/rank_{r}" for f in figures for r in (0, 1)} | {
        f"{f}/rank_{r}" for f in ("eval_loss", "eval_accuracy") for r in (0, 1)
    }
    record = step_record(1, 3, 24, 2.0 / 3, 0.2, 0.05)  # what rank 1 logged at step 3
    assert [step for step, _v, _t in exact["loss/rank_1"]] == [1, 2, 3, 4, 5, 6]
    step3 = {tag: points[2] for tag, points in exact.items() if tag.endswith("rank_1") and "eval" not in tag}
    assert step3["share/rank_1"][1] == 24
    assert step3["samples_per_s/rank_1"][1] == pytest.approx(record["samples_per_s"])
    assert step3["compute_s/rank_1"][1] == pytest.approx(0.2)
    assert step3["comm_s/rank_1"][1] == pytest.approx(0.05)
    assert step3["loss/rank_1"][1] == pytest.approx(round(2.0 / 3, 6))
    assert step3["loss/rank_1"][2] == pytest.approx(record["time"])  # at the time the step was logged
    assert exact["eval_loss/rank_0"] == [(6, pytest.approx(2.5 / 6), pytest.approx(record["time"] + 3))]
    assert "eval_loss/rank_0" not in read_run(out / "cnn-powersgd")  # that run never evaluated


def test_exporting_again_replaces_a_run_and_a_resumed_runs_steps_count_once(collected, tmp_path):
    # rank 0 restarted from its step-4 snapshot: steps 5 and 6 were logged twice, the later ones count
    path = collected / "cnn-exact" / "lap1" / "logs" / "rank_0_metrics.json"
    metrics = MetricsFile(path, 0)
    metrics.start_run({"started": "2026-11-30T23:10:00+00:00", "config": {"sync": "exact"}})
    for step in (5, 6):
        metrics.add_step({**step_record(0, step, 40, 9.0, 0.1, 0.05), "time": 1_796_000_500.0 + step})
    metrics.flush()
    out = tmp_path / "tb"
    for _ in range(2):
        assert report.main(["--tensorboard", str(out), str(collected / "cnn-exact")]) == 0
    assert len(list((out / "cnn-exact").glob("events.out.tfevents.*"))) == 1
    loss = read_run(out / "cnn-exact")["loss/rank_0"]
    assert [(step, value) for step, value, _t in loss][-3:] == [(4, 0.5), (5, 9.0), (6, 9.0)]


def test_nothing_collected_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    empty = tmp_path / "experiments"
    empty.mkdir()
    assert report.main(["--tensorboard", str(tmp_path / "tb"), str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no experiment with logs/rank_<r>_metrics.json" in err
    assert "playbooks/collect.yml" in err and not (tmp_path / "tb").exists()
    assert report.main(["--tensorboard"]) == 2
    assert "usage: hetero-report --tensorboard DIR" in capsys.readouterr().err


def test_without_the_tensorboard_package_one_clear_line(collected, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were missing
    assert report.main([f"--tensorboard={tmp_path / 'tb'}", str(collected)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install tensorboard" in err
    assert not (tmp_path / "tb").exists()
