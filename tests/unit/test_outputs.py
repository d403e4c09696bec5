"""Metrics file, structured lines, progress display and snapshots, each on its own."""

from __future__ import annotations

import io
import json

import torch

from hetero_train.metrics import MetricsFile, Progress, emit
from hetero_train.snapshot import SnapshotDir, agree_and_load


def test_structured_lines_are_one_json_object_each():
    out = io.StringIO()
    emit("step", stream=out, rank=1, step=5, loss=0.5)
    emit("done", stream=out, rank=1)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"event": "step", "rank": 1, "step": 5, "loss": 0.5},
        {"event": "done", "rank": 1},
    ]


def test_metrics_file_appends_runs_and_keeps_earlier_records(tmp_path):
    path = tmp_path / "logs/rank_0_metrics.json"
    m = MetricsFile(path, rank=0)
    m.start_run({"started": "t0"})
    m.add_step({"step": 1, "loss": 2.0})
    m.flush()
    again = MetricsFile(path, rank=0)
    again.start_run({"started": "t1"})
    again.add_step({"step": 2, "loss": 1.5})
    again.flush()
    data = json.loads(path.read_text())
    assert data["rank"] == 0 and [r["started"] for r in data["runs"]] == ["t0", "t1"]
    assert data["steps"] == [{"run": 0, "step": 1, "loss": 2.0}, {"run": 1, "step": 2, "loss": 1.5}]
    assert [p.name for p in path.parent.iterdir()] == ["rank_0_metrics.json"]  # no temp files left


def test_an_unreadable_metrics_file_is_kept_aside_not_lost(tmp_path):
    path = tmp_path / "rank_0_metrics.json"
    path.write_text('{"rank": 0, "runs": [')
    MetricsFile(path, rank=0).flush()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("rank_0_metrics.json.unreadable")]
    assert len(kept) == 1 and kept[0].read_text() == '{"rank": 0, "runs": ['


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise():
    tty = Tty()
    p = Progress(total=10, rank=0, stream=tty)
    p.update(5, 1.2345, 800.0)
    p.update(10, 1.0, 800.0)
    assert "\rrank 0 [###############---------------] 5/10 loss 1.2345 800 samples/s" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
    plain = io.StringIO()
    p = Progress(total=10, rank=1, stream=plain, every_s=3600)
    for step in range(1, 11):
        p.update(step, 1.0, 500.0)
    assert plain.getvalue().splitlines() == [
        "rank 1: step 1/10 (10%) loss 1.0000 500 samples/s",
        "rank 1: step 10/10 (100%) loss 1.0000 500 samples/s",
    ]


def test_snapshots_keep_the_last_few_and_skip_a_truncated_one(tmp_path, capsys):
    snaps = SnapshotDir(tmp_path / "rank_0", keep=3)
    for step in (10, 20, 30, 40):
        snaps.save(step, {"step": step, "w": torch.full((3,), float(step))})
    assert snaps.steps() == [20, 30, 40]
    newest = snaps.path(40)
    newest.write_bytes(newest.read_bytes()[:100])
    step, state = agree_and_load(snaps, lambda x: [x])
    assert step == 30 and torch.equal(state["w"], torch.full((3,), 30.0))
    assert "step_00000040.pt is unreadable" in capsys.readouterr().err
    assert snaps.steps() == [20, 30] and (tmp_path / "rank_0/step_00000040.pt.corrupt").exists()


def test_ranks_agree_on_the_newest_step_they_all_hold(tmp_path):
    a, b = SnapshotDir(tmp_path / "a"), SnapshotDir(tmp_path / "b")
    for step in (10, 20):
        a.save(step, {"step": step})
    b.save(10, {"step": 10})  # rank b never got to write step 20
    # What all_gather would return on rank a: its own value and rank b's.
    replies = iter([[[10, 20], [10]], [True, True]])
    step, state = agree_and_load(a, lambda _own: next(replies))
    assert step == 10 and state["step"] == 10


def test_no_snapshot_anywhere_means_a_fresh_start(tmp_path):
    assert agree_and_load(SnapshotDir(tmp_path / "none"), lambda x: [x]) is None
