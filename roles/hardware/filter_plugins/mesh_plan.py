"""The mesh plan: every host's mesh address, endpoint and peers, worked out on the controller from the
inventory, with the settings' own rules (hetero_train/mesh_settings.py). roles/hardware computes it (and
stops on its error line before any host is changed) and makes the mesh the cluster network when it is on;
roles/mesh and roles/firewall read it. Here rather than in roles/mesh: ansible.cfg makes this directory's
filters usable everywhere.

Each filter returns plain data; an "error" key (or a non-empty string) is ONE line naming the field and the
fix.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
WHERE = "inventory/group_vars/all.yml"
ANYWHERE = "0.0.0.0/0"


def _schema():
    """hetero_train's settings, also on a controller whose Python lacks the installed package."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from hetero_train import mesh_settings

    return mesh_settings


def _value(vars_: dict, setting):
    """The setting's typed value on one host, its schema default when unset."""
    typed = setting.parse(vars_.get(setting.name))
    return setting.default if typed is None else typed


def _cluster_settings(first: dict) -> tuple[dict, str]:
    schema = _schema()
    for setting in schema.MESH_SETTINGS:
        problem = setting.problem(first.get(setting.name))
        if problem:
            return {}, f"{setting.name}: {problem}; fix it in {WHERE}"
    return {s.name: _value(first, s) for s in schema.MESH_SETTINGS}, ""


def _subnet(text: str, hosts: int):
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        # Host bits set (10.213.0.1/24): say which network was meant.
        meant = f" (use {ipaddress.ip_network(text, strict=False)})" if "host bits" in str(e) else ""
        return None, f"hetero_mesh_subnet: {e}{meant}"
    if net.num_addresses - 2 < hosts:
        room = max(net.num_addresses - 2, 0)
        return None, f"hetero_mesh_subnet: {text} has room for {room} hosts, not {hosts}"
    if not net.is_private:
        return None, f"hetero_mesh_subnet: {text} is not a private network"
    return net, ""


def _endpoint(text: str, port: int) -> str:
    return text if ":" in text else f"{text}:{port}"


def mesh_plan(hosts: list[str], hostvars: dict) -> dict:
    """{enabled, interface, port, subnet, prefix, hosts: {name: {address, endpoint, remote, lan}}} or {error}.

    `lan` is the host's cluster address on the outer network (roles/hardware's route towards the master),
    the endpoint the others use unless the host names its own. The hosts are planned with the mesh off too,
    so that turning it off can remove what it admitted; only a mesh that is on must be right."""
    hosts = list(hosts)
    if not hosts:
        return {"enabled": False, "hosts": {}}
    values, error = _cluster_settings(hostvars[hosts[0]])
    if error:
        return {"error": error}
    enabled = values["hetero_mesh"] == "wireguard"
    port = values["hetero_mesh_port"]
    net, error = _subnet(values["hetero_mesh_subnet"], len(hosts))
    if error and enabled:
        return {"error": f"{error}; fix it in {WHERE}"}
    plan = {"enabled": enabled, "interface": values["hetero_mesh_interface"], "port": port, "hosts": {}}
    if net is not None:
        plan.update(subnet=str(net), prefix=net.prefixlen)
    by_name = _schema().MESH_HOST_BY_NAME
    for index, name in enumerate(hosts):
        vars_ = hostvars[name]
        problems = [(s.name, s.problem(vars_.get(s.name))) for s in by_name.values()]
        wrong = [f"{field}: {problem}" for field, problem in problems if problem]
        if wrong and enabled:
            return {"error": f"host {name}: {wrong[0]}; fix it in the inventory"}
        endpoint, remote = (
            _value(vars_, by_name[k]) if not wrong else by_name[k].default
            for k in ("hetero_mesh_endpoint", "hetero_mesh_remote")
        )
        if remote and not endpoint and enabled:
            return {
                "error": f"host {name}: hetero_mesh_remote is true but hetero_mesh_endpoint is unset; set it"
                f" to the host:port where the other hosts reach {name}'s WireGuard port (docs/security.md)"
            }
        lan = str(vars_.get("hetero_cluster_addr") or vars_.get("ansible_host") or name)
        plan["hosts"][name] = {
            "address": str(net[index + 1]) if net is not None else "",
            "endpoint": _endpoint(endpoint or lan, port),
            "remote": bool(remote),
            "lan": lan,
        }
    return plan


def mesh_overlap(addresses: list, subnet: str, interface: str, host: str) -> str:
    """ "" or the line naming a network of `host` (`ip -j -4 addr` output) that the mesh subnet overlaps;
    the mesh's own interface does not count (it is the mesh)."""
    try:
        mesh = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return ""  # the plan already said what is wrong with it
    for link in addresses:
        if link.get("ifname") == interface:
            continue
        for info in link.get("addr_info", []):
            net = ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False)
            if net.overlaps(mesh):
                return (
                    f"host {host}: hetero_mesh_subnet {subnet} overlaps {link['ifname']}'s network {net};"
                    f" choose another private network in {WHERE}"
                )
    return ""


def mesh_peer_sources(plan: dict, host: str) -> list[str]:
    """The outer addresses this host admits to its WireGuard port: its peers' LAN addresses and the
    addresses in their endpoints (a host name there is resolved by nobody: only literal addresses count);
    anywhere for a remote host (hetero_mesh_remote)."""
    if plan.get("hosts", {}).get(host, {}).get("remote"):
        # Behind NAT the peers arrive from addresses nobody knows in advance; WireGuard itself answers only
        # packets signed with a peer's key.
        return [ANYWHERE]
    sources: list[str] = []
    for name, peer in plan.get("hosts", {}).items():
        if name == host:
            continue
        for text in (peer["lan"], peer["endpoint"].rsplit(":", 1)[0]):
            try:
                address = str(ipaddress.ip_address(text))
            except ValueError:
                continue
            if address not in sources:
                sources.append(address)
    return sources


class FilterModule:
    def filters(self):
        return {
            "hetero_mesh_plan": mesh_plan,
            "hetero_mesh_overlap": mesh_overlap,
            "hetero_mesh_peer_sources": mesh_peer_sources,
        }
