"""Bad input is caught before any host is touched: each broken inventory, group_vars or trainer setting in the
catalogue makes `site.yml` stop in preflight with ONE line naming the field and the fix, exit non-zero,
and leaves every laptop exactly as it was (same files under /var/lib/hetero-cluster, same daemon.json, no
new container). Settings that need no hardware facts are refused before any host is even contacted."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible.playbook import ansible_playbook
from tests.faults.catalogue import CASES, DELETE, Case
from tests.faults.laptop_state import laptop_state

REPO = Path(__file__).resolve().parents[2]
CONTROLLER_PLAY = "Preflight - the settings, checked on the controller before any host is contacted"


def write_case(case: Case, lab, dest: Path) -> Path:
    """A copy of the lab inventory and of group_vars/all.yml, broken as the case says."""
    inventory = yaml.safe_load(Path(lab.inventory).read_text())
    hosts = inventory["all"]["children"]["cluster"]["hosts"]
    for name, extra in case.hosts.items():
        hosts[name].update(extra)
    settings = yaml.safe_load((REPO / "inventory" / "group_vars" / "all.yml").read_text())
    for name, value in case.group_vars.items():
        if value is DELETE:
            settings.pop(name)
        else:
            settings[name] = value
    (dest / "group_vars").mkdir(parents=True)
    (dest / "group_vars" / "all.yml").write_text(yaml.safe_dump(settings))
    (dest / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    return dest / "inventory.yml"


def run_site(inventory: Path, extra_vars: dict, playbook: str = "site.yml") -> subprocess.CompletedProcess:
    extra = ["-e", json.dumps(extra_vars)] if extra_vars else []
    env = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}  # one result per line: easy to read back
    return ansible_playbook(playbook, inventory, *extra, env=env, timeout=900)


def failures(stdout: str) -> list[tuple[str, str]]:
    """[(play, message)] of every failed task, in order."""
    found, play = [], ""
    for line in stdout.splitlines():
        if line.startswith("PLAY ["):
            play = line[len("PLAY [") : line.rindex("]")]
        m = re.match(r"(?:fatal: \[[^\]]+\]: FAILED!|failed: \[[^\]]+\] \(item=[^)]*\)) => (\{.*\})$", line)
        if m:
            found.append((play, json.loads(m.group(1)).get("msg", "")))
    return found


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.lab
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_stops_preflight_and_changes_nothing(case, fault_lab, tmp_path):
    lab = fault_lab
    first, second = lab.laptops[:2]
    case = case.resolved({"A": first.name, "B": second.name, "A_ADDR": first.address})
    inventory = write_case(case, lab, tmp_path)
    before = laptop_state(lab)

    result = run_site(inventory, case.extra_vars)

    assert result.returncode != 0, result.stdout[-3000:]
    failed = failures(result.stdout)
    assert failed, result.stdout[-3000:]
    play, message = failed[0]
    assert play.startswith("Preflight"), (play, message)
    # Several hosts can fail in the same task, printed in whatever order they finish: each failure is one
    # line, and one of them holds everything the case expects (field, value, fix, host).
    messages = [m for p, m in failed if p == play]
    assert all("\n" not in m.strip() for m in messages), messages
    assert any(all(expected in m for expected in case.expect) for m in messages), messages
    # Nothing after preflight ran: no provisioning, no image, no container.
    assert "PLAY [Provision" not in result.stdout
    if not case.needs_facts:
        assert play == CONTROLLER_PLAY, (play, message)
    assert laptop_state(lab) == before
