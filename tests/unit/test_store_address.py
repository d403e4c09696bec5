"""The rendezvous store has no authentication, so rank 0 serves it on the master address only: a peer on
another interface of the master's machine is refused, one on the cluster address gets through."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from .runs import free_port

# Two loopback addresses stand for the master's two interfaces (Linux answers on all of 127.0.0.0/8):
# the cluster address the inventory gives as MASTER_ADDR, and another one that must stay closed.
CLUSTER_ADDR, OTHER_ADDR = "127.0.0.2", "127.0.0.1"


def start_master(tmp_path, addr: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, RANK="0", WORLD_SIZE="2", MASTER_ADDR=addr, MASTER_PORT=str(port))
    return subprocess.Popen(
        [sys.executable, "-m", "hetero_train", "--rendezvous-timeout", "60"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def connects(addr: str, port: int) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=2):
            return True
    except OSError:
        return False


def wait_listening(addr: str, port: int, master: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not connects(addr, port):
        assert master.poll() is None, master.communicate()[1]
        assert time.monotonic() < deadline, f"the master never listened on {addr}:{port}"
        time.sleep(0.2)


def test_the_store_answers_on_the_master_address_only(tmp_path):
    port = free_port()
    master = start_master(tmp_path, CLUSTER_ADDR, port)
    try:
        wait_listening(CLUSTER_ADDR, port, master)
        assert not connects(OTHER_ADDR, port)
    finally:
        master.kill()
        master.communicate()


def test_a_port_taken_on_the_master_address_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind((CLUSTER_ADDR, 0))
        taken.listen()
        port = taken.getsockname()[1]
        master = start_master(tmp_path, CLUSTER_ADDR, port)
        _, err = master.communicate(timeout=120)
    assert master.returncode == 2
    assert err.strip().splitlines() == [
        f"hetero-train: error: master port {port} is already in use here; pick another MASTER_PORT"
    ]


def test_a_master_address_of_another_machine_warns_and_listens_everywhere(tmp_path):
    # 192.0.2.1 (TEST-NET-1) is never an address of this machine: rank 0 cannot bind it, so it says so
    # and falls back to torch's listen-on-every-interface, which the firewall must then guard.
    port = free_port()
    master = start_master(tmp_path, "192.0.2.1", port)
    try:
        wait_listening(OTHER_ADDR, port, master)
    finally:
        master.kill()
        _, err = master.communicate()
    assert "warning: MASTER_ADDR 192.0.2.1 is not an address of this machine" in err


def test_a_master_name_that_resolves_to_loopback_here_listens_everywhere(tmp_path):
    # Debian maps a machine's own hostname to 127.0.1.1 while its peers resolve the name to its LAN
    # address (SLURM hands out hostnames): bound to loopback, the peers would be refused.
    port = free_port()
    master = start_master(tmp_path, "localhost", port)
    try:
        wait_listening("127.0.0.3", port, master)
    finally:
        master.kill()
        _, err = master.communicate()
    assert "warning: MASTER_ADDR localhost resolves to " in err  # 127.0.0.1 or ::1, as the resolver orders
    assert "listens on every interface" in err
