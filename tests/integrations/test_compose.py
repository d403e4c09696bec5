"""playbooks/compose.yml: a compose file per host, one service per rank, run for real with docker compose."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from tests.unit.runs import free_port

from .ansible_run import REPO, playbook

LOCAL = REPO / "inventory" / "local.yml"
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def compose_command() -> list[str]:
    """The compose plugin when the engine has it, else docker-compose: roles/compose installed one of them."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    assert shutil.which("docker-compose"), "playbooks/compose.yml left no compose command on this machine"
    return ["docker-compose"]


def test_compose_file_from_the_local_inventory_runs_two_ranks(tmp_path, trainer_image):
    prefix, project = "hetero-composetest-rank-", f"hetero-composetest-{free_port()}"
    done = playbook(
        "compose.yml",
        LOCAL,
        *(
            "-e",
            f"hetero_compose_dir={tmp_path / 'compose'}",
            "-e",
            f"hetero_trainer_experiments_dir={tmp_path / 'exp'}",
        ),
        *("-e", f"hetero_compose_container_prefix={prefix}", "-e", f"hetero_compose_project={project}"),
        *(
            "-e",
            f"hetero_master_port={free_port()}",
            "-e",
            "hetero_max_steps=3",
            "-e",
            "hetero_experiment_name=compose",
        ),
        *("-e", "hetero_compose_up=true"),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    compose_file = tmp_path / "compose" / "compose.yml"
    try:
        services = yaml.safe_load(compose_file.read_text())["services"]
        assert sorted(services) == ["rank-0", "rank-1"]
        for rank, name in enumerate(["rank-0", "rank-1"]):
            s = services[name]
            assert s["network_mode"] == "host" and s["image"] == trainer_image
            assert s["environment"]["RANK"] == str(rank) and s["environment"]["WORLD_SIZE"] == "2"
            assert s["environment"]["MASTER_ADDR"] == "127.0.0.1" and s["restart"] == "on-failure:3"
            assert f"{tmp_path / 'exp'}:/workspace/experiments:rw" in s["volumes"]
            assert "deploy" not in s  # CPU host: no GPU reservation
        # The services really ran: wait for both containers, they finished (exit 0) and wrote their metrics.
        codes = subprocess.run(
            ["docker", "wait", f"{prefix}0", f"{prefix}1"], capture_output=True, text=True, timeout=600
        )
        assert codes.stdout.split() == ["0", "0"], subprocess.run(
            ["docker", "logs", "--tail", "20", f"{prefix}0"], capture_output=True, text=True
        ).stderr
        logs = tmp_path / "exp" / "compose" / "logs"
        metrics = json.loads((logs / "rank_1_metrics.json").read_text())
        assert metrics
        assert (logs / "rank_0_metrics.json").exists()
    finally:
        subprocess.run(
            [*compose_command(), "-p", project, "-f", str(compose_file), "down"], capture_output=True
        )


def test_gpu_host_gets_one_gpu_per_rank_with_faked_gpu(tmp_path):
    """A GPU is faked (hetero_hardware_fake_gpu_count): each rank's service reserves its own GPU."""
    done = playbook(
        "compose.yml",
        LOCAL,
        *("-e", f"hetero_compose_dir={tmp_path}", "-e", f"hetero_trainer_experiments_dir={tmp_path / 'exp'}"),
        *("-e", "hetero_hardware_fake_gpu_count=2"),
    )
    assert done.returncode == 0, done.stdout[-3000:]
    services = yaml.safe_load((tmp_path / "compose.yml").read_text())["services"]
    for rank in (0, 1):
        s = services[f"rank-{rank}"]
        assert s["image"] == "hetero-trainer:gpu" and s["environment"]["NCCL_SOCKET_IFNAME"] == "lo"
        assert s["deploy"]["resources"]["reservations"]["devices"] == [
            {"driver": "nvidia", "device_ids": [str(rank)], "capabilities": ["gpu"]}
        ]
    # The file is valid for compose itself (schema, GPU reservation syntax).
    check = subprocess.run(
        [*compose_command(), "-f", str(tmp_path / "compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
