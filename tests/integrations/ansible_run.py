"""Run one of the project's playbooks (the project's one runner) against an inventory written by a test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.ansible.playbook import REPO, ansible_playbook


def write_inventory(directory: Path, hosts: dict[str, dict]) -> Path:
    """An inventory of `hosts` beside a link to the project's group_vars (Ansible reads it from there)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "group_vars").symlink_to(REPO / "inventory" / "group_vars")
    path = directory / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"cluster": {"hosts": hosts}}}}, sort_keys=False))
    return path


def playbook(name: str, inventory: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`ansible-playbook -i inventory playbooks/<name> extra...`, read as a command's result."""
    return ansible_playbook(f"playbooks/{name}", inventory, *extra, timeout=int(timeout))
