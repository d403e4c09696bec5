"""Preflight and provision over real SSH to the lab laptops (tests/lab): clean runs, changed=0 the second
time, the facts the delivery side relies on, the NVIDIA toolkit only where a (faked) GPU is, and an
inventory mistake stopping everything before any host is touched."""

from __future__ import annotations

import pytest

from tests.ansible.playbook import inventory_copy, run_playbook
from tests.lab.system import start_dockerd_like_init_script

pytestmark = pytest.mark.lab

FACTS_TASK = "Report hardware facts"
TOOLKIT = "nvidia_toolkit : "


@pytest.fixture(scope="module")
def lab_inventory(lab, tmp_path_factory):
    """The lab's inventory with group_vars beside it, as a user keeps theirs."""
    return inventory_copy(lab.inventory, tmp_path_factory.mktemp("lab-inventory"))


def assert_clean(result, hosts):
    assert result.rc == 0, result.stdout[-3000:]
    for host in hosts:
        assert result.failed(host) == 0, result.stdout[-3000:]


def test_preflight_and_provision_run_clean_and_a_second_run_changes_nothing(lab, lab_inventory, tmp_path):
    hosts = [lap.name for lap in lab.laptops]
    for playbook in ("playbooks/preflight.yml", "playbooks/provision.yml"):
        assert_clean(run_playbook(playbook, lab_inventory, tmp_path=tmp_path), hosts)

    for playbook in ("playbooks/preflight.yml", "playbooks/provision.yml"):
        again = run_playbook(playbook, lab_inventory, tmp_path=tmp_path)
        assert_clean(again, hosts)
        assert {host: again.changed(host) for host in hosts} == dict.fromkeys(hosts, 0), again.changed_tasks()


def test_facts_describe_three_cpu_laptops_with_lap1_as_master(lab, lab_inventory, tmp_path):
    result = run_playbook("tests/ansible/playbooks/facts.yml", lab_inventory, tmp_path=tmp_path)
    assert_clean(result, [lap.name for lap in lab.laptops])
    for index, lap in enumerate(lab.laptops):
        facts = result.results[(FACTS_TASK, lap.name)]["msg"]
        assert facts["hetero_image_variant"] == "cpu" and int(facts["hetero_gpu_count"]) == 0
        assert facts["hetero_gpu_models"] == []
        assert int(facts["hetero_world_size"]) == 3
        assert facts["hetero_master_host"] == "lap1" and facts["hetero_master_addr"] == "10.77.0.11"
        assert facts["hetero_cluster_addr"] == lap.address
        assert facts["hetero_cluster_ifname"] == "eth0"  # the laptop's interface on the lab subnet
        assert facts["hetero_host_ranks"] == [{"rank": index, "local_rank": 0, "gpu": None}]
        assert int(facts["hetero_cpu_cores"]) >= 1 and int(facts["hetero_memory_mb"]) > 0
        assert facts["hetero_is_wsl"] is False
        assert facts["groups_cpu"] == ["lap1", "lap2", "lap3"] and facts["groups_gpu"] == []


def test_nvidia_toolkit_would_run_on_a_host_with_faked_gpu_and_is_skipped_on_cpu_hosts(lab, tmp_path):
    inventory = inventory_copy(
        lab.inventory, tmp_path / "inv", {"lap2": {"hetero_hardware_fake_gpu_count": 1}}
    )
    result = run_playbook(
        "playbooks/provision.yml", inventory, "--check", "--tags", "nvidia_toolkit", tmp_path=tmp_path
    )
    assert result.rc == 0, result.stdout[-3000:]

    gpu_host = result.statuses(TOOLKIT, "lap2")
    assert gpu_host and set(gpu_host) - {"skipped"}, f"toolkit tasks on the faked-GPU host: {gpu_host}"
    # The lab's daemon.json has no nvidia runtime, so nvidia-ctk would be run to merge it in.
    decided = result.result(f"{TOOLKIT}Decide whether Docker still lacks the nvidia runtime", "lap2")
    assert decided["ansible_facts"]["hetero_nvidia_toolkit_configure"] is True
    for cpu_host in ("lap1", "lap3"):
        statuses = result.statuses(TOOLKIT, cpu_host)
        assert statuses and set(statuses) == {"skipped"}, f"{cpu_host}: {statuses}"
    assert result.changed("lap1") == 0 and result.changed("lap3") == 0


def test_inventory_mistake_stops_site_in_preflight_before_any_change(lab, tmp_path):
    inventory = inventory_copy(
        lab.inventory, tmp_path / "inv", {"lap2": {"hetero_rank": 0}, "lap3": {"hetero_rank": 0}}
    )
    result = run_playbook("site.yml", inventory, tmp_path=tmp_path)
    assert result.rc != 0
    assert "hosts lap2 and lap3 both claim rank 0 (hetero_rank/hetero_ranks)" in result.stdout
    assert sum((result.stats.get("changed") or {}).values()) == 0
    assert result.plays and all(play.startswith("Preflight") for play in result.plays), result.plays


def test_unreachable_host_stops_site_in_preflight_before_any_change(lab, tmp_path):
    inventory = inventory_copy(
        lab.inventory, tmp_path / "inv", {"lap3": {"ansible_port": 2}}
    )  # nothing listens
    result = run_playbook("site.yml", inventory, tmp_path=tmp_path)
    assert result.rc != 0
    assert "UNREACHABLE" in result.stdout and "10.77.0.13 port 2" in result.stdout
    assert sum((result.stats.get("changed") or {}).values()) == 0
    assert result.plays and all(play.startswith("Preflight") for play in result.plays), result.plays


def test_docker_role_starts_a_stopped_engine_without_systemd_then_leaves_it_alone(
    lab, lab_inventory, tmp_path
):
    """No systemd in the laptops (as on WSL2 without it, and this machine): the role starts dockerd itself."""
    hosts = [lap.name for lap in lab.laptops]
    lab.run("lap3", ["service", "docker", "stop"], check=True)
    try:
        started = run_playbook(
            "playbooks/provision.yml", lab_inventory, "--tags", "docker", tmp_path=tmp_path
        )
        assert_clean(started, hosts)
        assert started.changed("lap3") > 0 and started.changed("lap1") == 0
        assert lab.docker("lap3", "info", "--format", "{{.Name}}").stdout.strip() == "lap3"

        again = run_playbook("playbooks/provision.yml", lab_inventory, "--tags", "docker", tmp_path=tmp_path)
        assert_clean(again, hosts)
        assert again.changed("lap3") == 0, again.changed_tasks()
    finally:
        if lab.docker("lap3", "version").returncode != 0:  # leave the lab as we found it
            start_dockerd_like_init_script(lab.nsenter("lap3"))
