"""Preflight's link probe on the lab (roles/link_probe): with lap2's link shaped to 50 Mbit/s, the plan
reports each laptop's link to the master lap1, lap2's at most what its link carries, a warning names lap2,
and preflight changes nothing and leaves nothing behind; a laptop that cannot reach the master stops
preflight in one line that names it and the fix."""

from __future__ import annotations

import re

import pytest

from tests.ansible.playbook import inventory_copy, run_playbook

pytestmark = pytest.mark.lab

PLAN = "Show the plan"
WARNING = "Warn about a host whose link is far slower"
PORT = "link_probe : Read the sink's port"
LINK = re.compile(r"link (\S+) -> (\S+): ([\d.]+) Mbit/s, rtt ([\d.]+) ms")


@pytest.fixture(scope="module")
def lab_inventory(lab, tmp_path_factory):
    return inventory_copy(lab.inventory, tmp_path_factory.mktemp("link-probe-inventory"))


def _plan_link(result, host: str) -> tuple[float, float] | None:
    """(Mbit/s, rtt ms) from the host's plan line, None when the line has no link."""
    msg = " ".join(str(result.result(PLAN, host)["msg"]).split())
    found = LINK.search(msg)
    if found is None:
        return None
    assert found.group(1, 2) == (host, "lap1"), msg
    return float(found.group(3)), float(found.group(4))


def _sink_is_gone(lab, result) -> None:
    """No port file, no listener on the sink's port, no async job record on the master."""
    port = result.result(PORT, "lap1")["port"]
    listening = lab.run("lap1", ["ss", "-Hltn", f"sport = :{port}"])
    assert listening.returncode == 0 and listening.stdout.strip() == "", listening.stdout
    leftovers = lab.run("lap1", "ls /tmp/hetero-link-probe-* 2>/dev/null")
    assert leftovers.stdout.strip() == ""
    job = result.result("link_probe : Start a one-shot sink", "lap1")
    assert lab.run("lap1", ["test", "-e", job["results_file"]]).returncode != 0


def test_preflight_measures_each_link_and_names_the_slow_one(lab, lab_inventory, tmp_path):
    hosts = [lap.name for lap in lab.laptops]
    with lab.shaped({"lap2": "50mbit"}):
        result = run_playbook("playbooks/preflight.yml", lab_inventory, tmp_path=tmp_path)
    assert result.rc == 0, result.stdout[-3000:]
    assert {host: result.changed(host) for host in hosts} == dict.fromkeys(hosts, 0), result.changed_tasks()

    assert _plan_link(result, "lap1") is None  # the master has no link to itself
    slow, fast = _plan_link(result, "lap2"), _plan_link(result, "lap3")
    assert slow is not None and fast is not None, result.stdout[-3000:]
    assert 0 < slow[0] <= 1.5 * 50, slow  # a 50 Mbit/s link cannot carry much more
    assert fast[0] > 0 and slow[1] > 0 and fast[1] > 0

    warned = {host for host in hosts if result.statuses(WARNING, host) == ["ok"]}
    assert warned == {"lap2"}, result.stdout[-3000:]
    assert "lap2's link to lap1 is far slower" in result.result(WARNING, "lap2")["msg"]

    facts = result.result("link_probe : Set the link facts", "lap2")["ansible_facts"]
    assert float(facts["hetero_link_mbit"]) == slow[0] and float(facts["hetero_link_rtt_ms"]) > 0
    assert result.statuses("link_probe : Set the link facts", "lap1") == ["skipped"]
    _sink_is_gone(lab, result)


def test_a_laptop_that_cannot_reach_the_master_stops_preflight_in_one_line(lab, lab_inventory, tmp_path):
    # lap3 is refused by every ephemeral port of lap1 (as by a firewall there); SSH and the rest stay open.
    rule = ["OUTPUT", "-d", "10.77.0.11", "-p", "tcp", "--dport", "1024:65535", "-j", "REJECT"]
    lab.run("lap3", ["iptables", "-I", *rule, "--reject-with", "tcp-reset"], check=True)
    try:
        result = run_playbook("playbooks/preflight.yml", lab_inventory, tmp_path=tmp_path)
    finally:
        lab.run("lap3", ["iptables", "-D", *rule, "--reject-with", "tcp-reset"], check=True)
    assert result.rc != 0
    msg = " ".join(
        result.result("link_probe : Stop when a host cannot reach the master", "lap3")["msg"].split()
    )
    assert msg.startswith("host lap3: the link probe cannot reach the master lap1 at 10.77.0.11"), msg
    assert "connection refused" in msg and "--tags firewall" in msg and "hetero_link_probe_enabled" in msg
    assert sum((result.stats.get("changed") or {}).values()) == 0
    _sink_is_gone(lab, result)
