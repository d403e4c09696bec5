"""Run the project's playbooks the way a user does (ansible-playbook, the repo's ansible.cfg) through the
project's one runner (hetero_tui.services.runner), and read the result back as data (PlaybookResult: the
PLAY RECAP's per-host stats, per-task statuses and results, stdout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from hetero_tui.services.playbook_result import PlaybookResult
from hetero_tui.services.runner import run_playbook as run

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GROUP_VARS = REPO / "inventory" / "group_vars"


def run_playbook(
    playbook: str, inventory: Path, *args: str, tmp_path: Path, extra_vars: dict | None = None
) -> PlaybookResult:
    """`ansible-playbook -i inventory playbook args...`, playbook relative to the repo, kept in tmp_path."""
    artifacts = tmp_path / "playbook-runs"  # one folder per run inside, named by time and playbook
    return run(
        playbook, inventory, *args, extravars=extra_vars, repo_root=REPO, artifacts=artifacts, timeout=1200
    )


def ansible_playbook(
    playbook: str, inventory: Path, *args: str, env: dict | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """The same run, for tests that read it as a command's result (returncode, stdout). ansible-playbook
    runs in a terminal, so stdout holds what it wrote to stderr too, and stderr is empty."""
    done = run(playbook, inventory, *args, env=env, repo_root=REPO, timeout=timeout)
    command = ["ansible-playbook", "-i", str(inventory), playbook, *args]
    return subprocess.CompletedProcess(command, done.rc, done.stdout, "")


def inventory_copy(source: Path, dest_dir: Path, host_vars: dict[str, dict] | None = None) -> Path:
    """Copy an inventory next to a symlink to inventory/group_vars (what docs/inventory.md tells users to do),
    optionally adding host vars; returns the new inventory file."""
    data = yaml.safe_load(source.read_text())
    for host, extra in (host_vars or {}).items():
        data["all"]["children"]["cluster"]["hosts"][host].update(extra)
    dest_dir.mkdir(parents=True, exist_ok=True)
    (dest_dir / "group_vars").symlink_to(GROUP_VARS)
    target = dest_dir / "inventory.yml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target
