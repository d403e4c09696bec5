"""The firewall role with ufw on a lab laptop: peers reach the rendezvous port and the gloo/NCCL port range,
a machine outside the inventory (the lab's outsider namespace) does not, and SSH stays open."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.ansible.playbook import inventory_copy, run_playbook
from tests.integrations.ufw import ufw_on_the_laptops

pytestmark = pytest.mark.lab

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


@pytest.fixture
def ufw(lab):
    """ufw on the machine for this test only, each laptop with its own /etc/ufw, all put back at the end."""
    with ufw_on_the_laptops(lab):
        yield


def reaches(done: subprocess.CompletedProcess) -> bool:
    return done.returncode == 0 and "hello" in done.stdout


def test_ufw_admits_cluster_peers_only(lab, ufw, tmp_path):
    host, peer = lab.laptops[0].name, lab.laptops[1].name
    address = lab.laptop(host).address
    inventory = inventory_copy(lab.inventory, tmp_path / "inv")
    server = lab.run(
        host,
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
        return lab.run(peer, ["python3", "-c", CLIENT, address, str(port)])

    def from_outsider(port):
        return lab.run_outside(["python3", "-c", CLIENT, address, str(port)])

    try:
        deadline = time.monotonic() + 120  # until the server listens (this machine may be busy)
        while not reaches(lab.run(host, ["python3", "-c", CLIENT, address, str(RENDEZVOUS)])):
            assert time.monotonic() < deadline, "the test server never started listening"
            time.sleep(0.5)
        assert reaches(from_outsider(RENDEZVOUS)), "before the role, nothing filters (so the test can fail)"
        run = run_playbook(
            "tests/ansible/playbooks/firewall.yml",
            inventory,
            tmp_path=tmp_path,
            extra_vars={"hetero_test_firewall_hosts": host, "hetero_firewall_enable": True},
        )
        assert run.rc == 0, run.stdout[-3000:]
        assert run.changed(host) > 0

        assert reaches(from_peer(RENDEZVOUS)) and reaches(from_peer(EPHEMERAL))
        assert not reaches(from_peer(OTHER)), "a peer gets the trainer's ports only"
        assert not reaches(from_outsider(RENDEZVOUS)) and not reaches(from_outsider(EPHEMERAL))
        assert lab.ssh(host, "true").returncode == 0, "SSH stays open"

        again = run_playbook(
            "tests/ansible/playbooks/firewall.yml",
            inventory,
            tmp_path=tmp_path,
            extra_vars={"hetero_test_firewall_hosts": host, "hetero_firewall_enable": True},
        )
        assert again.rc == 0 and again.changed(host) == 0, again.changed_tasks()
    finally:
        lab.run(host, ["kill", server.stdout.strip()])  # the ufw fixture puts ufw back as it was
