"""Snapshots: a corrupt one (bits flipped on disk, not only truncated) is detected, set aside with a warning
and the previous good one used — by every rank, since they agree on a step all of them hold intact; a save
killed midway leaves the previous snapshot as it was and no half-written file under a snapshot name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from hetero_train.snapshot import SnapshotDir, agree_and_load
from tests.unit.runs import TINY, relative_difference, run_ranks, weights


def flip_bits_in_the_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_snapshot_with_flipped_bits_is_set_aside_and_the_previous_one_used(tmp_path, capsys):
    snaps = SnapshotDir(tmp_path / "rank_0", keep=3)
    for step in (5, 10):
        snaps.save(step, {"step": step, "w": torch.arange(50_000, dtype=torch.float32) * step})
    flip_bits_in_the_middle(snaps.path(10))

    step, state = agree_and_load(snaps, lambda own: [own])

    assert step == 5 and torch.equal(state["w"], torch.arange(50_000, dtype=torch.float32) * 5)
    assert "step_00000010.pt is unreadable" in capsys.readouterr().err
    assert snaps.steps() == [5] and (tmp_path / "rank_0" / "step_00000010.pt.corrupt").exists()


KILLED_SAVE = """
import os, signal, sys, torch
from pathlib import Path
from hetero_train.snapshot import SnapshotDir
snaps = SnapshotDir(Path(sys.argv[1]))
def half_then_die(f):
    f.write(b"PK" + bytes(1000))  # the first bytes of a zip, then the process is killed
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
from hetero_train import fsutil
fsutil.atomic_write(snaps.path(10), half_then_die)
"""


def test_a_save_killed_midway_leaves_the_previous_snapshot_and_no_half_written_one(tmp_path):
    snaps = SnapshotDir(tmp_path / "rank_0")
    snaps.save(5, {"step": 5})

    killed = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(snaps.directory)], check=False)

    assert killed.returncode == -9
    assert snaps.steps() == [5]  # the half-written temp file is never taken for a snapshot
    assert agree_and_load(snaps, lambda own: [own])[0] == 5


def test_two_ranks_fall_back_together_when_one_ranks_newest_snapshot_is_corrupt(tmp_path):
    base = [*TINY, "--save-every", "5", "--experiment-name", "e", "--output-dir", str(tmp_path / "out")]
    run_ranks(2, [*base, "--max-steps", "10"], tmp_path)
    flip_bits_in_the_middle(tmp_path / "out/e/checkpoints/rank_1/step_00000010.pt")

    resumed = run_ranks(2, [*base, "--max-steps", "15"], tmp_path)
    reference = [*TINY, "--save-every", "5", "--experiment-name", "r", "--output-dir", str(tmp_path / "ref")]
    run_ranks(2, [*reference, "--max-steps", "15"], tmp_path)

    assert [r.of("resume")[0]["step"] for r in resumed] == [
        5,
        5,
    ]  # both ranks, the newest step all hold intact
    assert "step_00000010.pt is unreadable" in resumed[1].stderr
    assert (tmp_path / "out/e/checkpoints/rank_1/step_00000010.pt.corrupt").exists()
    final = weights(tmp_path / "out/e/checkpoints/final.pt")
    assert relative_difference(final, weights(tmp_path / "ref/r/checkpoints/final.pt")) <= 1e-5
