"""hetero_mesh: wireguard on the integration lab, ufw active on both laptops. Provision gives each laptop a
WireGuard interface (wireguard-go: this kernel has no module) with its own key; the ranks train over the mesh
(MASTER_ADDR and GLOO_SOCKET_IFNAME are the mesh's), and a capture on the laptops' wires shows only UDP to
the WireGuard port between them. The lab's outsider reaches neither the store's port (even routed into the
mesh subnet) nor, with a peer's stolen key, the WireGuard port: with the master's ufw off it reaches both,
so the refusal was the firewall's. hetero_mesh: none then leaves no interface, file or rule behind."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time

import pytest
from hetero_tui.services.runner import run_playbook

from hetero_train.settings import BY_NAME
from tests.lab.capture import capture

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1800)]

EXPERIMENT = "mesh-lab-test"
IFACE, PORT = BY_NAME["hetero_mesh_interface"].default, BY_NAME["hetero_mesh_port"].default
SUBNET = ipaddress.ip_network(BY_NAME["hetero_mesh_subnet"].default)
STORE = 29500
MESH_ON = {"hetero_mesh": "wireguard", "hetero_firewall_enable": True}
TRAINING = {
    "hetero_max_steps": 4,
    "hetero_experiment_name": EXPERIMENT,
    "hetero_trainer_wait": True,
    "hetero_trainer_wait_timeout": 900,
    "hetero_link_probe_enabled": False,
}
PROBE = "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3); print('open')"
LISTEN = (
    "import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
    " s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8); time.sleep(300)"
)
OUTSIDE_IF = "hc-out"


def play(lab, playbook, tmp_path, name, extra, *args):
    return run_playbook(
        playbook, lab.inventory, *args, extravars=extra, artifacts=tmp_path / name, timeout=1200
    )


def reaches(done) -> bool:
    return done.returncode == 0 and "open" in done.stdout


def test_training_crosses_the_wire_only_as_wireguard_and_the_outsider_gets_nowhere(
    int_lab, ufw, trainer_image, tmp_path
):
    lab = int_lab
    master, worker = lab.laptops[0], lab.laptops[-1]
    mesh = {lap.name: str(SUBNET[i + 1]) for i, lap in enumerate(lab.laptops)}
    outer = {lap.address for lap in lab.laptops}
    for lap in lab.laptops:
        lab.load_image(lap.name, trainer_image)
        lab.run(lap.name, f"rm -rf /var/lib/hetero-cluster/experiments/{EXPERIMENT}")
    listener = None
    try:
        # A private key that others can read stops provision in one line, before anything is changed.
        key = f"/etc/wireguard/{IFACE}.key"
        lab.run(worker.name, f"umask 022 && echo not-a-key > {key}", check=True)
        loose = play(lab, "playbooks/provision.yml", tmp_path, "loose", MESH_ON, "--tags", "firewall,mesh")
        assert loose.rc != 0 and f"{key} is open to others (mode 0644); run chmod 600" in loose.stdout
        for lap in lab.laptops:
            assert lab.run(lap.name, ["ip", "link", "show", IFACE]).returncode != 0, lap.name
            assert lab.run(lap.name, "ufw status").stdout.startswith("Status: inactive"), lap.name
        lab.run(worker.name, ["rm", key], check=True)

        on = play(lab, "playbooks/provision.yml", tmp_path, "on", MESH_ON, "--tags", "firewall,mesh")
        assert on.rc == 0, on.stdout[-4000:]
        for lap in lab.laptops:
            shown = json.loads(lab.run(lap.name, ["ip", "-j", "-4", "addr", "show", "dev", IFACE]).stdout)
            assert shown[0]["addr_info"][0]["local"] == mesh[lap.name], shown
            assert lab.run(lap.name, ["stat", "-c", "%a", key]).stdout.strip() == "600"
            private = lab.run(lap.name, ["cat", key], check=True).stdout.strip()
            config = lab.run(lap.name, ["cat", f"/etc/wireguard/{IFACE}.conf"], check=True).stdout
            assert private and private not in config and private not in on.stdout

        again = play(lab, "playbooks/provision.yml", tmp_path, "again", MESH_ON, "--tags", "firewall,mesh")
        assert again.rc == 0 and again.changed_tasks() == [], again.changed_tasks()

        # The job: every packet between the laptops is WireGuard's UDP.
        with capture([lap.host_veth for lap in lab.laptops]) as seen:
            launch = play(lab, "playbooks/launch.yml", tmp_path, "launch", {**MESH_ON, **TRAINING})
        assert launch.rc == 0, launch.stdout[-4000:]
        env = lab.docker(master.name, "inspect", "--format", "{{json .Config.Env}}", "hetero-rank-0").stdout
        assert f"MASTER_ADDR={mesh[master.name]}" in env and f"GLOO_SOCKET_IFNAME={IFACE}" in env, env
        for rank, lap in enumerate(lab.laptops):
            logs = lab.run(lap.name, f"ls /var/lib/hetero-cluster/experiments/{EXPERIMENT}/logs").stdout
            assert f"rank_{rank}_metrics.json" in logs.split(), (lap.name, logs)
        between = [p for p in seen if {p.src, p.dst} <= outer]
        kinds = {(p.proto, p.sport, p.dport) for p in between}
        assert between and all(p.proto == "udp" and PORT in (p.sport, p.dport) for p in between), kinds

        # A store-like listener on the master's mesh address: the peer gets in over the mesh, the outsider
        # (routed into the mesh subnet through the master's outer address) does not.
        listener = subprocess.Popen(
            [*lab.nsenter(master.name), "python3", "-c", LISTEN, mesh[master.name], str(STORE)]
        )
        time.sleep(1)
        probe = ["python3", "-c", PROBE, mesh[master.name], str(STORE)]
        assert reaches(lab.run(worker.name, probe))
        lab.run_outside(["ip", "route", "add", str(SUBNET), "via", master.address], check=True)
        refused_store = not reaches(lab.run_outside(probe))
        lab.run_outside(["ip", "route", "del", str(SUBNET)], check=True)

        # With the worker's stolen key the outsider poses as the worker: the master's WireGuard port only
        # answers the worker's own outer address.
        stolen = tmp_path / "stolen.key"
        stolen.write_text(lab.run(worker.name, ["cat", f"/etc/wireguard/{IFACE}.key"], check=True).stdout)
        stolen.chmod(0o600)
        public = lab.run(master.name, ["wg", "show", IFACE, "public-key"], check=True).stdout.strip()
        for step in (
            ["wireguard-go", OUTSIDE_IF],
            [
                "wg",
                "set",
                OUTSIDE_IF,
                "private-key",
                str(stolen),
                "peer",
                public,
                "endpoint",
                f"{master.address}:{PORT}",
                "allowed-ips",
                f"{mesh[master.name]}/32",
            ],
            ["ip", "addr", "add", f"{mesh[worker.name]}/32", "dev", OUTSIDE_IF],
            ["ip", "link", "set", OUTSIDE_IF, "up"],
            ["ip", "route", "add", f"{mesh[master.name]}/32", "dev", OUTSIDE_IF],
        ):
            lab.run_outside(step, check=True)
        refused_tunnel = not reaches(lab.run_outside(probe))
        handshake = lab.run_outside(["wg", "show", OUTSIDE_IF, "latest-handshakes"]).stdout.split()
        # The other direction: with the master's ufw off, both get in, so the refusals were the firewall's.
        lab.run(master.name, "ufw disable", check=True)
        open_tunnel = reaches(lab.run_outside(probe))
        lab.run_outside(["ip", "link", "del", OUTSIDE_IF])
        lab.run_outside(["ip", "route", "add", str(SUBNET), "via", master.address], check=True)
        open_store = reaches(lab.run_outside(probe))
        lab.run_outside(["ip", "route", "del", str(SUBNET)])
        lab.run(master.name, "ufw --force enable", check=True)
        assert refused_store and refused_tunnel and handshake[-1] == "0", handshake
        assert open_tunnel and open_store
    finally:
        if listener:
            listener.kill()
        lab.run_outside(["ip", "link", "del", OUTSIDE_IF])
        off = play(
            lab,
            "playbooks/provision.yml",
            tmp_path,
            "off",
            {"hetero_mesh": "none"},
            "--tags",
            "firewall,mesh",
        )
    assert off.rc == 0, off.stdout[-4000:]
    for lap in lab.laptops:
        assert lab.run(lap.name, ["ip", "link", "show", IFACE]).returncode != 0, lap.name
        assert lab.run(lap.name, ["ls", "-A", "/etc/wireguard"]).stdout.split() == [], lap.name
        rules = lab.run(lap.name, "ufw show added", check=True).stdout
        assert str(PORT) not in rules and str(SUBNET.network_address)[:-1] not in rules, rules
        assert f"{STORE}" in rules, "the trainer's rules from the outer addresses are back"
