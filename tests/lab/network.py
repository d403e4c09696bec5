"""The lab's wire: one bridge in the root namespace (the controller's side) and a veth into each namespace.

Laptops get no default route, so nothing they send can leave the lab subnet.
"""

from __future__ import annotations

import re

from .config import LAPTOP_IFNAME, LabConfig
from .shell import ok, run


def _iptables_rule(cfg: LabConfig) -> list[str]:
    # Bridged frames pass the root namespace's FORWARD chain (bridge-nf-call-iptables=1), whose policy
    # the host Docker engine sets to DROP; laptops talking to each other must still pass.
    return ["FORWARD", "-i", cfg.bridge, "-o", cfg.bridge, "-j", "ACCEPT"]


def create_bridge(cfg: LabConfig) -> None:
    run(["ip", "link", "add", cfg.bridge, "type", "bridge"])
    run(["ip", "addr", "add", f"{cfg.controller}/24", "dev", cfg.bridge])
    run(["ip", "link", "set", cfg.bridge, "up"])
    run(["iptables", "-I", *_iptables_rule(cfg)])


def create_namespace(cfg: LabConfig, netns: str, host_veth: str, address: str) -> None:
    """A network namespace whose only outside link is `eth0` on the lab bridge."""
    inside = f"{host_veth}-i"[:15]
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", host_veth, "type", "veth", "peer", "name", inside])
    run(["ip", "link", "set", inside, "netns", netns])
    run(["ip", "link", "set", host_veth, "master", cfg.bridge])
    run(["ip", "link", "set", host_veth, "up"])
    inns = ["ip", "netns", "exec", netns]
    run([*inns, "ip", "link", "set", inside, "name", LAPTOP_IFNAME])
    run([*inns, "ip", "addr", "add", f"{address}/24", "dev", LAPTOP_IFNAME])
    run([*inns, "ip", "link", "set", LAPTOP_IFNAME, "up"])
    run([*inns, "ip", "link", "set", "lo", "up"])


def lab_namespaces(cfg: LabConfig) -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout or ""
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if cfg.is_lab_netns(n)]


def namespace_pids(netns: str) -> list[int]:
    out = run(["ip", "netns", "pids", netns], check=False).stdout or ""
    return [int(p) for p in out.split()]


def delete_network(cfg: LabConfig) -> None:
    """Remove namespaces (their veths go with them), leftover host veths, the bridge and the FORWARD rule."""
    for netns in lab_namespaces(cfg):
        run(["ip", "netns", "del", netns], check=False)
    for veth in host_veths(cfg):
        run(["ip", "link", "del", veth], check=False)
    if ok(["ip", "link", "show", cfg.bridge]):
        run(["ip", "link", "del", cfg.bridge])
    while ok(["iptables", "-D", *_iptables_rule(cfg)]):
        pass


def host_veths(cfg: LabConfig) -> list[str]:
    out = run(["ip", "-o", "link", "show"], check=False).stdout or ""
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    pattern = re.compile(rf"v-{re.escape(cfg.prefix)}\d+")
    return [n for n in names if pattern.fullmatch(n) or n == cfg.outsider_veth]


def bridge_exists(cfg: LabConfig) -> bool:
    return ok(["ip", "link", "show", cfg.bridge])


def forward_rule_present(cfg: LabConfig) -> bool:
    return ok(["iptables", "-C", *_iptables_rule(cfg)])
