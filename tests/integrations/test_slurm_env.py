"""The trainer takes its place in the job from SLURM's variables when RANK/WORLD_SIZE/... are unset."""

from __future__ import annotations

import json
import os
import stat

import pytest

from hetero_train import slurm
from hetero_train.distenv import resolve
from hetero_train.errors import BadInput
from tests.unit.runs import TINY, free_port, run_processes


@pytest.mark.parametrize(
    ("nodelist", "hosts"),
    [
        ("node01", ["node01"]),
        ("node[01-03,07]", ["node01", "node02", "node03", "node07"]),
        ("gpu[8-10],cpu1", ["gpu8", "gpu9", "gpu10", "cpu1"]),
        ("lap[1,3],lap[009-011]", ["lap1", "lap3", "lap009", "lap010", "lap011"]),
        ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
        ("a-b.example.org,c", ["a-b.example.org", "c"]),
    ],
)
def test_node_lists_expand_without_slurm(nodelist, hosts):
    assert slurm.expand_pure(nodelist) == hosts


@pytest.mark.parametrize("nodelist", ["node[01-03", "node01]", "node[a-b]", "node[3-1]", "n[[1]]"])
def test_malformed_node_list_is_one_clear_line(nodelist):
    with pytest.raises(BadInput, match=r"SLURM_NODELIST=.* is not a SLURM node list.*set MASTER_ADDR"):
        resolve(env={"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_NODELIST": nodelist})


def test_slurm_variables_give_rank_world_local_rank_and_master():
    env = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "6",
        "SLURM_LOCALID": "1",
        "SLURM_NODELIST": "gpu[07-08],cpu1",
    }
    d = resolve(env=env)
    assert (d.rank, d.world_size, d.local_rank, d.master_addr) == (5, 6, 1, "gpu07")


def test_torchrun_variables_and_flags_win_over_slurm():
    env = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "6",
        "SLURM_NODELIST": "gpu07",
        "RANK": "1",
        "MASTER_ADDR": "m",
    }
    d = resolve(env=env)
    assert (d.rank, d.world_size, d.master_addr) == (1, 6, "m")
    assert resolve(rank=2, master_addr="x", env=env).rank == 2


def test_bad_slurm_procid_names_the_variable():
    with pytest.raises(BadInput, match="SLURM_PROCID='x' is not a whole number"):
        resolve(env={"SLURM_PROCID": "x", "SLURM_NTASKS": "2"})


def test_expand_prefers_scontrol_with_faked_scontrol(tmp_path, monkeypatch):
    # SLURM itself is not installed here: a stand-in `scontrol` shows that its answer wins when present.
    fake = tmp_path / "scontrol"
    fake.write_text(
        '#!/bin/sh\n[ "$1 $2" = "show hostnames" ] && printf "from-scontrol-1\\nfrom-scontrol-2\\n"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert slurm.expand("weird{syntax}") == ["from-scontrol-1", "from-scontrol-2"]


@pytest.mark.timeout(300)
def test_two_processes_with_only_slurm_variables_train(tmp_path):
    """Two real ranks, as srun would start them: no RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR at all."""
    base = {
        k: v for k, v in os.environ.items() if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"}
    }
    # The bracketed list expands to 127.0.0.1, 127.0.0.2: the first node (the master) is this machine.
    base.update(
        OMP_NUM_THREADS="1", SLURM_NTASKS="2", SLURM_NODELIST="127.0.0.[1-2]", MASTER_PORT=str(free_port())
    )
    args = [*TINY, "--max-steps", "3", "--output-dir", str(tmp_path / "exp"), "--experiment-name", "slurm"]
    envs = [dict(base, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank)) for rank in range(2)]
    results = run_processes(envs, args, tmp_path, timeout=240)
    for rank, result in enumerate(results):
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        hardware = next(e for e in events if e["event"] == "hardware")
        assert (hardware["rank"], hardware["world_size"]) == (rank, 2)
        assert [e["step"] for e in events if e["event"] == "done"] == [3]
    assert sorted(p.name for p in (tmp_path / "exp" / "slurm" / "logs").iterdir()) == [
        "rank_0_metrics.json",
        "rank_1_metrics.json",
    ]
