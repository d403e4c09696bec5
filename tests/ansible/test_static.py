"""Static checks of the Ansible content: every playbook parses, ansible-lint's production profile is clean."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.ansible.playbook import BIN, REPO
from tests.ansible.rank_plan_module import rank_plan

PLAYBOOKS = ["site.yml", *sorted(str(p.relative_to(REPO)) for p in (REPO / "playbooks").glob("*.yml"))]
ENV = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax(playbook):
    done = subprocess.run(
        [BIN / "ansible-playbook", "--syntax-check", playbook],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ansible_lint_production_profile_is_clean():
    done = subprocess.run(
        [BIN / "ansible-lint", "--profile", "production", "--nocolor"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in done.stderr


def inventory_vars(inventory: str) -> dict:
    """Every host's variables as Ansible sees them (inventory file + group_vars beside it)."""
    done = subprocess.run(
        [BIN / "ansible-inventory", "-i", inventory, "--list"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    return {name: data["_meta"]["hostvars"][name] for name in data["cluster"]["hosts"]}


def test_local_inventory_is_this_machine_as_two_ranks_with_the_training_settings():
    hosts = inventory_vars("inventory/local.yml")
    assert list(hosts) == ["localhost"]
    local = hosts["localhost"]
    assert local["ansible_connection"] == "local" and local["hetero_ranks"] == 2
    assert local["hetero_model"] == "simple_cnn" and local["hetero_dataset"] == "synthetic_image"
    assert local["hetero_master_port"] == 29500 and local["hetero_balance_policy"] == "dynamic"
    assert local["hetero_image_offline"] is True


def test_example_inventory_plans_the_ranks_its_comments_promise():
    hosts = inventory_vars("inventory/hosts.yml")
    assert list(hosts) == ["desktop", "gpu-box", "laptop", "wsl-laptop"]
    assert all(h["hetero_master_port"] == 29500 for h in hosts.values())
    gpus = {"desktop": 2, "gpu-box": 1}
    plan = rank_plan.plan_ranks(
        [
            rank_plan.HostSpec(
                name, v["ansible_host"], gpus.get(name, 0), v.get("hetero_ranks"), v.get("hetero_rank")
            )
            for name, v in hosts.items()
        ]
    )
    firsts = {name: entry["first_rank"] for name, entry in plan["hosts"].items()}
    assert firsts == {"desktop": 0, "gpu-box": 2, "laptop": 3, "wsl-laptop": 4}
    assert plan["master_host"] == "desktop" and plan["world_size"] == 5
