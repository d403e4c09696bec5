"""playbooks/slurm.yml writes an sbatch script shaped like the inventory that runs the launch.yml trainer."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from .ansible_run import playbook, write_inventory

TWO_GPU_TWO_CPU = {
    "gpu1": {"ansible_host": "10.0.0.1", "hetero_slurm_gpus": 2},
    "gpu2": {"ansible_host": "10.0.0.2", "hetero_slurm_gpus": 2},
    "cpu1": {"ansible_host": "10.0.0.3"},
    "cpu2": {"ansible_host": "10.0.0.4"},
}


def generate(tmp_path: Path, hosts: dict) -> tuple[subprocess.CompletedProcess, Path]:
    script = tmp_path / "job.sbatch"
    done = playbook(
        "slurm.yml", write_inventory(tmp_path / "inv", hosts), "-e", f"hetero_slurm_script={script}"
    )
    return done, script


@pytest.fixture(scope="module")
def hetero_script(tmp_path_factory) -> Path:
    done, script = generate(tmp_path_factory.mktemp("slurm"), TWO_GPU_TWO_CPU)
    assert done.returncode == 0, done.stdout + done.stderr
    return script


def sbatch_lines(script: Path) -> list[str]:
    return [line for line in script.read_text().splitlines() if line.startswith("#SBATCH")]


def test_script_is_valid_bash(hetero_script):
    subprocess.run(["bash", "-n", str(hetero_script)], check=True)


def test_gpu_hosts_and_cpu_hosts_become_two_components_of_one_job(hetero_script):
    assert sbatch_lines(hetero_script) == [
        "#SBATCH --job-name=hetero-train",
        "#SBATCH --time=01:00:00",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=2",
        "#SBATCH --ntasks=4",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH hetjob",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --ntasks=2",
    ]
    text = hetero_script.read_text()
    assert "srun --kill-on-bad-exit=1 --het-group=0-1 " in text
    assert "export WORLD_SIZE=6" in text


def test_trainer_flags_are_the_ones_launch_uses(hetero_script):
    text = hetero_script.read_text()
    for flag in [
        "--model simple_cnn",
        "--global-batch-size 128",
        "--experiment-name demo",
        "--enable-load-balancing",
    ]:
        assert flag in text


def test_one_cpu_host_with_two_ranks_is_a_plain_job(tmp_path):
    done, script = generate(tmp_path, {"box": {"ansible_host": "10.0.0.9", "hetero_ranks": 2}})
    assert done.returncode == 0, done.stdout + done.stderr
    assert sbatch_lines(script)[2:] == [
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=2",
        "#SBATCH --ntasks=2",
    ]
    text = script.read_text()
    assert "hetjob" not in text and "--het-group" not in text and "WORLD_SIZE" not in text


def test_inventory_mistake_stops_with_one_line_and_writes_nothing(tmp_path):
    done, script = generate(tmp_path, {"a": {"ansible_host": "10.0.0.1"}, "b": {"ansible_host": "10.0.0.1"}})
    assert done.returncode != 0
    assert "hosts a and b both have address 10.0.0.1" in done.stdout
    assert not script.exists()


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_each_task_runs_its_container_with_faked_slurm_and_docker(hetero_script, tmp_path):
    """SLURM and a GPU are not here: stand-ins for srun/scontrol/docker show what one task would run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # srun: drop its own options, run the command here once (as the task the environment describes).
    _stub(bin_dir, "srun", 'while [[ "$1" == --* ]]; do shift; done; exec "$@"\n')
    _stub(bin_dir, "scontrol", 'printf "gpu1\\ngpu2\\n"\n')
    _stub(bin_dir, "docker", 'printf "%s\\n" "$@" > "$DOCKER_ARGS"; env > "$DOCKER_ARGS.env"\n')
    calls = {}
    for task, env in {
        "gpu task": {"SLURM_PROCID": "1", "SLURM_LOCALID": "1", "SLURM_GPUS_ON_NODE": "2"},
        "cpu task": {"SLURM_PROCID": "5", "SLURM_LOCALID": "0"},
    }.items():
        out = tmp_path / task
        base = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        full = dict(base, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", DOCKER_ARGS=str(out), **env)
        full.update(
            SLURM_NTASKS="6",
            SLURM_JOB_NODELIST_HET_GROUP_0="gpu[1-2]",
            SLURM_JOB_NODELIST="cpu[1-2],gpu[1-2]",
        )
        subprocess.run(["bash", str(hetero_script)], env=full, check=True, timeout=60)
        calls[task] = out.read_text().splitlines()
    gpu, cpu = calls["gpu task"], calls["cpu task"]
    assert "hetero-trainer:gpu" in gpu and gpu[gpu.index("--gpus") + 1] == "device=1"
    assert "hetero-trainer:cpu" in cpu and "--gpus" not in cpu
    for args in (gpu, cpu):
        assert args[args.index("--network") + 1] == "host"
        assert {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "MASTER_ADDR"} <= set(args)
    assert calls["cpu task"][calls["cpu task"].index("--name") + 1] == "hetero-rank-5"
    assert "MASTER_ADDR=gpu1" in (tmp_path / "cpu task.env").read_text().splitlines()
    assert shlex.join(cpu).endswith("--enable-load-balancing")
