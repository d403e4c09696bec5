"""The become password for real: the TUI asks for it, and a lab laptop's user becomes root with it.

This machine has no sudo, and installing it would change the machine outside the lab (every laptop shares
/usr). So the laptop's user becomes root with su, the other password-asking become method of every Debian:
the password travels the same way (the TUI's prompt -> ansible-runner -> Ansible's become). The user and
root's password exist in lap3 only, in lap3's own copies of /etc/passwd, /etc/shadow and /etc/group (and a
copy of the lab's authorized_keys the user may read), bind-mounted in lap3's mount namespace for this test
and unmounted after it."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest
import yaml
from hetero_tui.app import HeteroApp
from hetero_tui.screens.password import BecomePasswordScreen
from hetero_tui.screens.run import RunScreen
from textual.widgets import DataTable, Label

from tests.tui.app_helpers import copy_inventory, pilot_test, table_rows, text_of, wait_for

pytestmark = pytest.mark.lab
USER, UID = "tuiuser", 1500
PASSWORD = "becomes-root-7f3a"  # root's password inside lap3 for this test only
HOME = "/tmp/tui-become"  # lap3's /tmp is its own
ACCOUNT_FILES = ("passwd", "shadow", "group")
AUTHORIZED_KEYS = "/run/hetero-lab/authorized_keys"  # the lab's sshd_config names this file for every user


@contextlib.contextmanager
def su_user_on(lab, laptop: str):
    """`USER` exists on `laptop` (SSH with the lab's key) and root there has the password PASSWORD."""
    root_hash = subprocess.run(
        ["openssl", "passwd", "-6", PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    added = {
        "passwd": f"{USER}:x:{UID}:{UID}::{HOME}/home:/bin/sh\n",
        "group": f"{USER}:x:{UID}:\n",
        "shadow": f"{USER}:*:20000:0:99999:7:::\n",  # no password: the user logs in with the SSH key only
    }
    lab.run(laptop, ["mkdir", "-p", f"{HOME}/home"], check=True)
    try:
        for name in ACCOUNT_FILES:
            lines = Path(f"/etc/{name}").read_text().splitlines(keepends=True)  # the machine's, as lap3 sees
            if name == "shadow":
                lines = [
                    f"root:{root_hash}:{line.split(':', 2)[2]}" if line.startswith("root:") else line
                    for line in lines
                ]
            lab.run(
                laptop, ["sh", "-c", f"cat > {HOME}/{name}"], input="".join(lines) + added[name], check=True
            )
            lab.run(
                laptop,
                f"chmod --reference=/etc/{name} {HOME}/{name} && chown --reference=/etc/{name} {HOME}/{name}",
                check=True,
            )
        lab.run(laptop, ["chown", f"{UID}:{UID}", f"{HOME}/home"], check=True)
        # sshd reads the lab's one authorized_keys file as the user logging in: let USER read a copy of it.
        lab.run(laptop, f"install -m 644 {AUTHORIZED_KEYS} {HOME}/authorized_keys", check=True)
        mounts = [(f"{HOME}/{name}", f"/etc/{name}") for name in ACCOUNT_FILES]
        mounts.append((f"{HOME}/authorized_keys", AUTHORIZED_KEYS))
        for source, target in mounts:
            lab.run(laptop, ["mount", "--bind", source, target], check=True)
        yield
    finally:
        for target in [f"/etc/{name}" for name in ACCOUNT_FILES] + [AUTHORIZED_KEYS]:
            lab.run(laptop, ["umount", target])
        lab.run(laptop, ["rm", "-rf", HOME])


def su_inventory(lab, laptop: str, into: Path) -> Path:
    """The lab inventory cut to `laptop`, reached as USER, who becomes root with su."""
    inventory = yaml.safe_load(Path(lab.inventory).read_text())
    cluster = inventory["all"]["children"]["cluster"]
    cluster["hosts"] = {laptop: cluster["hosts"][laptop]}
    cluster["vars"].update(ansible_user=USER, ansible_become=True, ansible_become_method="su")
    target = copy_inventory(lab.inventory, into)
    target.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return target


def lab_ssh(lab, user: str, address: str, command: str) -> subprocess.CompletedProcess:
    lab_dir = Path(lab.inventory).parent
    return subprocess.run(
        [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={lab_dir / 'known_hosts'}",
            "-i",
            str(lab_dir / "id_ed25519"),
            f"{user}@{address}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pilot_test
async def test_status_as_a_user_who_becomes_root_with_the_password_typed_into_the_tui(lab, tmp_path):
    with su_user_on(lab, "lap3"):
        # The user alone cannot reach Docker: whatever Status learns from Docker came through su.
        alone = lab_ssh(lab, USER, "10.77.0.13", "id -un; docker version --format '{{.Server.Version}}'")
        assert alone.stdout.startswith(f"{USER}\n") and alone.returncode != 0, alone
        app = HeteroApp(su_inventory(lab, "lap3", tmp_path / "inv"), artifacts=tmp_path / "artifacts")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("s")
            assert isinstance(pilot.app.screen, BecomePasswordScreen)
            assert "becomes root with su" in text_of(pilot.app.screen.query_one(Label))
            await pilot.press(*PASSWORD, "enter")
            assert isinstance(pilot.app.screen, RunScreen)
            run = pilot.app.runs.current
            await wait_for(pilot, lambda: run.grid.status != "running", 600, "Status to end")
            await pilot.pause(0.5)
            assert run.grid.status == "successful", run.grid.raw_output[-2000:]
            await pilot.press("escape")
            hosts = {row[0]: row for row in table_rows(pilot.app.screen.query_one("#hosts", DataTable))}
            assert hosts["lap3"][5].startswith("up docker "), hosts  # Docker answered root, via su
    kept = [path for path in (tmp_path / "artifacts").rglob("*") if path.is_file()]
    assert kept and not [path for path in kept if PASSWORD in path.read_text(errors="replace")]
