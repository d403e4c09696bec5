"""Run one of the project's playbooks with ansible-playbook against an inventory written by a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def write_inventory(directory: Path, hosts: dict[str, dict]) -> Path:
    """An inventory of `hosts` beside a link to the project's group_vars (Ansible reads it from there)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "group_vars").symlink_to(REPO / "inventory" / "group_vars")
    path = directory / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"cluster": {"hosts": hosts}}}}, sort_keys=False))
    return path


def playbook(name: str, inventory: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / name), *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
