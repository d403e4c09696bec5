"""Run the project's playbooks the way a user does (ansible-playbook, the repo's ansible.cfg) and read the
result back as data: per-host stats from the PLAY RECAP and per-task statuses from ansible-runner's events."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GROUP_VARS = REPO / "inventory" / "group_vars"

STATUS = {
    "runner_on_ok": "ok",
    "runner_on_skipped": "skipped",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
}


@dataclass
class Result:
    rc: int
    stats: dict  # {"changed": {host: n}, "failures": {...}, "ok": ..., "skipped": ..., "dark": ...}
    stdout: str
    tasks: list = field(default_factory=list)  # [(task name, host, status, changed)]
    results: dict = field(default_factory=dict)  # {(task name, host): the module's result}
    plays: list = field(default_factory=list)  # names of the plays in which some task ran, in order

    def changed(self, host: str) -> int:
        return (self.stats.get("changed") or {}).get(host, 0)

    def failed(self, host: str) -> int:
        return (self.stats.get("failures") or {}).get(host, 0) + (self.stats.get("dark") or {}).get(host, 0)

    def statuses(self, task_prefix: str, host: str) -> list[str]:
        return [status for name, h, status, _ in self.tasks if h == host and name.startswith(task_prefix)]

    def result(self, task_prefix: str, host: str) -> dict:
        return next(
            res for (name, h), res in self.results.items() if h == host and name.startswith(task_prefix)
        )

    def changed_tasks(self) -> list[tuple[str, str]]:
        return [(name, host) for name, host, _, changed in self.tasks if changed]


def run_playbook(
    playbook: str, inventory: Path, *args: str, tmp_path: Path, extra_vars: dict | None = None
) -> Result:
    """`ansible-playbook -i inventory playbook args...` via ansible-runner, with the repo's ansible.cfg."""
    data_dir = tmp_path / f"runner-{len(list(tmp_path.glob('runner-*')))}"
    data_dir.mkdir(parents=True)
    env = {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        # ansible-runner switches host-key checking off by default; users' runs keep it on, so do tests.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    runner = ansible_runner.run(
        private_data_dir=str(data_dir),
        project_dir=str(REPO),
        playbook=str(REPO / playbook),
        inventory=str(inventory),
        cmdline=" ".join(args) or None,
        extravars=extra_vars,
        envvars=env,
        quiet=True,
        timeout=1200,
    )
    tasks, results, plays = [], {}, []
    for event in runner.events:
        status = STATUS.get(event.get("event"))
        data = event.get("event_data", {})
        if status and data.get("task"):
            name = f"{data.get('role', '')} : {data['task']}".lstrip(" :")
            results[(name, data.get("host"))] = data.get("res") or {}
            if data.get("play") not in plays:
                plays.append(data.get("play"))
            changed = bool((data.get("res") or {}).get("changed"))
            tasks.append((name, data.get("host"), status, changed))
    return Result(
        rc=runner.rc,
        stats=runner.stats or {},
        stdout=runner.stdout.read(),
        tasks=tasks,
        results=results,
        plays=plays,
    )


def inventory_copy(source: Path, dest_dir: Path, host_vars: dict[str, dict] | None = None) -> Path:
    """Copy an inventory next to a symlink to inventory/group_vars (what the README tells users to do),
    optionally adding host vars; returns the new inventory file."""
    data = yaml.safe_load(source.read_text())
    for host, extra in (host_vars or {}).items():
        data["all"]["children"]["cluster"]["hosts"][host].update(extra)
    dest_dir.mkdir(parents=True, exist_ok=True)
    (dest_dir / "group_vars").symlink_to(GROUP_VARS)
    target = dest_dir / "inventory.yml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target
