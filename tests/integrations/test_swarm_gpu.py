"""GPU ranks in Swarm mode, with a faked GPU (hetero_hardware_fake_gpu_count: 2 on the second laptop; the GPU
is the only thing faked). What a GPU host would get: its GPUs advertised as node generic resources and the
NVIDIA runtime made Docker's default (merged into daemon.json, other settings kept), the runtime told which
variable carries the swarm's GPU, and a stack file where each GPU rank reserves one GPU and talks NCCL over
the overlay network. Docker's own stack parser accepts the file. No GPU result is measured here."""

from __future__ import annotations

import json
import subprocess
import tomllib

import pytest
import yaml

from tests.ansible.playbook import inventory_copy, run_playbook

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

SCRATCH = "/tmp/hetero-swarm-gpu-test"  # inside the laptops (each has its own /tmp)
# config.toml as the toolkit ships it: swarm-resource commented out above the first section.
RUNTIME_CONFIG = """#accept-nvidia-visible-devices-as-volume-mounts = false
disable-require = false
#swarm-resource = "DOCKER_RESOURCE_GPU"

[nvidia-container-cli]
environment = []
ldconfig = "@/sbin/ldconfig"
"""
NVIDIA_RUNTIME = {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}  # as nvidia-ctk registers it


def run(lab, inventory, tmp_path):
    return run_playbook(
        "tests/integrations/playbooks/swarm_gpu.yml",
        inventory,
        tmp_path=tmp_path,
        extra_vars={
            "hetero_swarm_daemon_json": f"{SCRATCH}/daemon.json",
            "hetero_nvidia_toolkit_runtime_config": f"{SCRATCH}/config.toml",
            "hetero_swarm_dir": f"{SCRATCH}/swarm",
        },
    )


def after(result: dict) -> str:
    diff = result["diff"]
    return (diff[0] if isinstance(diff, list) else diff)["after"]


def test_swarm_gpu_ranks_reserve_advertised_gpus_with_faked_gpu(int_lab, tmp_path):
    lab = int_lab
    cpu_host, gpu_host = lab.laptops[0].name, lab.laptops[-1].name
    inventory = inventory_copy(
        lab.inventory, tmp_path / "inv", {gpu_host: {"hetero_hardware_fake_gpu_count": 2}}
    )
    # The GPU host's daemon.json as provision leaves it: the laptop's own settings, the nvidia runtime, and a
    # generic resource of another kind the user advertises.
    lab_settings = json.loads(lab.run(gpu_host, "cat /etc/docker/daemon.json", check=True).stdout)
    daemon = {**lab_settings, "runtimes": NVIDIA_RUNTIME, "node-generic-resources": ["SSD=fast"]}
    lab.run(gpu_host, f"rm -rf {SCRATCH} && mkdir -p {SCRATCH}", check=True)
    lab.run(gpu_host, f"cat > {SCRATCH}/daemon.json", input=json.dumps(daemon), check=True)
    lab.run(gpu_host, f"cat > {SCRATCH}/config.toml", input=RUNTIME_CONFIG, check=True)
    lab.run(cpu_host, f"rm -rf {SCRATCH}", check=True)

    first = run(lab, inventory, tmp_path / "first")

    assert first.rc == 0, first.stdout[-3000:]
    # daemon.json: both GPUs advertised (the other kind kept), the NVIDIA runtime the default, all else kept.
    wanted = json.loads(after(first.result("swarm : Advertise the GPUs", gpu_host)))
    assert wanted["node-generic-resources"] == [
        "SSD=fast",
        f"NVIDIA-GPU=GPU-faked-{gpu_host}-0",
        f"NVIDIA-GPU=GPU-faked-{gpu_host}-1",
    ]
    assert wanted["default-runtime"] == "nvidia" and wanted["runtimes"] == NVIDIA_RUNTIME
    assert {k: wanted[k] for k in lab_settings} == lab_settings
    # dockerd reads them only at start: the GPU host's Docker would restart; the CPU host is left alone.
    assert first.statuses("swarm : Restart docker for the swarm's GPU settings", gpu_host) == ["ok"]
    assert first.statuses("swarm : Advertise the GPUs", cpu_host) == []
    # config.toml: swarm-resource names the variable Swarm sets for this kind, as a top-level key.
    runtime = tomllib.loads(after(first.result("nvidia_toolkit : Tell the NVIDIA runtime", gpu_host)))
    assert runtime["swarm-resource"] == "DOCKER_RESOURCE_NVIDIA-GPU"
    assert runtime["nvidia-container-cli"]["ldconfig"] == "@/sbin/ldconfig"

    # The stack file: rank 0 on the CPU host; ranks 1 and 2 on the GPU host, each reserving one GPU.
    text = lab.run(cpu_host, f"cat {SCRATCH}/swarm/stack.yml", check=True).stdout
    services = yaml.safe_load(text)["services"]
    assert sorted(services) == ["rank-0", "rank-1", "rank-2"]
    cpu_rank = services["rank-0"]
    assert cpu_rank["image"] == "hetero-trainer:cpu" and "resources" not in cpu_rank["deploy"]
    assert "NCCL_SOCKET_IFNAME" not in cpu_rank["environment"]
    for rank, local in (("rank-1", "0"), ("rank-2", "1")):
        s = services[rank]
        assert s["image"] == "hetero-trainer:gpu"
        assert s["deploy"]["placement"]["constraints"] == [f"node.labels.hetero.host == {gpu_host}"]
        assert s["deploy"]["resources"]["reservations"]["generic_resources"] == [
            {"discrete_resource_spec": {"kind": "NVIDIA-GPU", "value": 1}}
        ]
        env = s["environment"]
        assert env["LOCAL_RANK"] == local and env["WORLD_SIZE"] == "3"
        assert env["NCCL_SOCKET_IFNAME"] == env["GLOO_SOCKET_IFNAME"] == "eth0"
    # Docker's stack parser takes the file and keeps the GPU reservation.
    parsed = subprocess.run(
        ["docker", "stack", "config", "--compose-file", "-"], input=text, capture_output=True, text=True
    )
    assert parsed.returncode == 0, parsed.stderr
    assert "NVIDIA-GPU" in parsed.stdout

    # Once daemon.json holds the settings, a second run changes nothing and restarts nothing.
    lab.run(gpu_host, f"cat > {SCRATCH}/daemon.json", input=json.dumps(wanted), check=True)
    again = run(lab, inventory, tmp_path / "again")
    assert again.rc == 0, again.stdout[-3000:]
    assert again.statuses("swarm : Restart docker", gpu_host) == []
    assert again.statuses("swarm : Advertise the GPUs", gpu_host) == ["skipped"]
