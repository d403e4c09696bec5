"""The firewall role with ufw on a lab laptop: peers reach the rendezvous port and the gloo/NCCL port range,
a machine outside the inventory (the lab's outsider namespace) does not, and SSH stays open."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from tests.ansible.playbook import inventory_copy, run_playbook

pytestmark = pytest.mark.lab

HOST, PEER = "lap1", "lap2"
RENDEZVOUS, EPHEMERAL, OTHER = 29500, 40000, 8000  # 40000 is inside Linux's default 32768-60999
# Listen on the given ports of the given address and greet whoever connects; gone after 5 minutes.
SERVER = """
import socket, sys, threading, time
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], port)); s.listen()
    while True:
        c, _ = s.accept(); c.sendall(b"hello"); c.close()
for port in sys.argv[2:]:
    threading.Thread(target=serve, args=(int(port),), daemon=True).start()
time.sleep(300)
"""
CLIENT = (
    "import socket,sys; print(socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).recv(16).decode())"
)


def apt_get(*args):
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", *args], check=True, env=env, capture_output=True, timeout=900)


@pytest.fixture
def ufw(lab):
    """ufw on the machine, for this test only (other tests expect the machine as they found it), with each
    laptop's own /etc/ufw, as real laptops have."""
    installed_here = shutil.which("ufw") is None
    if installed_here:
        apt_get("update")
        apt_get("install", "-y", "--no-install-recommends", "ufw")
    try:
        lab.make_private("/etc/ufw")
        # A laptop whose private /etc/ufw was copied before ufw was installed lacks its files: add them.
        package_files = subprocess.run(
            ["tar", "-C", "/etc/ufw", "-c", "."], check=True, capture_output=True
        ).stdout
        for lap in lab.laptops:
            if lab.run(lap.name, ["test", "-e", "/etc/ufw/ufw.conf"]).returncode != 0:
                lab.run(lap.name, ["tar", "-C", "/etc/ufw", "-x"], input=package_files, check=True)
        yield
    finally:
        if installed_here:
            apt_get("purge", "-y", "ufw")


def reaches(done: subprocess.CompletedProcess) -> bool:
    return done.returncode == 0 and "hello" in done.stdout


def test_ufw_admits_cluster_peers_only(lab, ufw, tmp_path):
    address = lab.laptop(HOST).address
    inventory = inventory_copy(lab.inventory, tmp_path / "inv")
    server = lab.run(
        HOST,
        [
            "sh",
            "-c",
            'python3 -c "$0" "$@" >/dev/null 2>&1 & echo $!',
            SERVER,
            address,
            *map(str, (RENDEZVOUS, EPHEMERAL, OTHER)),
        ],
        check=True,
    )

    def from_peer(port):
        return lab.run(PEER, ["python3", "-c", CLIENT, address, str(port)])

    def from_outsider(port):
        return lab.run_outside(["python3", "-c", CLIENT, address, str(port)])

    ufw_files = set(lab.run(HOST, ["ls", "/etc/ufw"]).stdout.split())
    try:
        deadline = time.monotonic() + 120  # until the server listens (this machine may be busy)
        while not reaches(lab.run(HOST, ["python3", "-c", CLIENT, address, str(RENDEZVOUS)])):
            assert time.monotonic() < deadline, "the test server never started listening"
            time.sleep(0.5)
        assert reaches(from_outsider(RENDEZVOUS)), "before the role, nothing filters (so the test can fail)"
        run = run_playbook(
            "tests/ansible/playbooks/firewall.yml",
            inventory,
            tmp_path=tmp_path,
            extra_vars={"hetero_test_firewall_hosts": HOST, "hetero_firewall_enable": True},
        )
        assert run.rc == 0, run.stdout[-3000:]
        assert run.changed(HOST) > 0

        assert reaches(from_peer(RENDEZVOUS)) and reaches(from_peer(EPHEMERAL))
        assert not reaches(from_peer(OTHER)), "a peer gets the trainer's ports only"
        assert not reaches(from_outsider(RENDEZVOUS)) and not reaches(from_outsider(EPHEMERAL))
        assert lab.ssh(HOST, "true").returncode == 0, "SSH stays open"

        again = run_playbook(
            "tests/ansible/playbooks/firewall.yml",
            inventory,
            tmp_path=tmp_path,
            extra_vars={"hetero_test_firewall_hosts": HOST, "hetero_firewall_enable": True},
        )
        assert again.rc == 0 and again.changed(HOST) == 0, again.changed_tasks()
    finally:
        # Leave the lab as it was: ufw off with no rules (its files are shared by every laptop and the host).
        lab.run(HOST, ["ufw", "--force", "reset"])
        backups = set(lab.run(HOST, ["ls", "/etc/ufw"]).stdout.split()) - ufw_files  # reset's dated copies
        lab.run(HOST, ["rm", "-f", *(f"/etc/ufw/{name}" for name in backups)])
        lab.run(HOST, ["kill", server.stdout.strip()])
