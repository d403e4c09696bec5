"""The mesh plan without hosts: who gets which mesh address and endpoint, the one line a wrong mesh setting
gives (roles/hardware/filter_plugins/mesh_plan.py), and the wg-quick configuration each host gets
(roles/mesh/templates/mesh.conf.j2), rendered the way Ansible's template module renders it."""

from __future__ import annotations

import importlib.util
import re

import jinja2
import pytest

from hetero_train.mesh_settings import MESH_SETTINGS
from tests.ansible.playbook import REPO

DEFAULTS = {s.name: s.default for s in MESH_SETTINGS}
PORT, INTERFACE = DEFAULTS["hetero_mesh_port"], DEFAULTS["hetero_mesh_interface"]
HOSTS = ["lap1", "lap2", "lap3"]


_spec = importlib.util.spec_from_file_location(
    "hetero_mesh_plan_filter", REPO / "roles" / "hardware" / "filter_plugins" / "mesh_plan.py"
)
mesh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mesh)


def _hostvars(cluster: dict | None = None, **per_host: dict) -> dict:
    """Three hosts on 192.168.1.0/24 (hetero_cluster_addr as roles/hardware found it); the cluster settings
    are group variables, so every host has them."""
    hostvars = {}
    for number, name in enumerate(HOSTS, start=11):
        hostvars[name] = {"hetero_cluster_addr": f"192.168.1.{number}", **(cluster or {})}
        hostvars[name].update(per_host.get(name, {}))
    return hostvars


def _plan(cluster: dict | None = None, **per_host: dict) -> dict:
    return mesh.mesh_plan(HOSTS, _hostvars(cluster, **per_host))


ON = {"hetero_mesh": "wireguard"}


# --- the mesh off ---------------------------------------------------------------------------------------


def test_the_mesh_is_off_by_default_and_nonsense_per_host_settings_do_not_matter():
    nonsense = {"hetero_mesh_remote": "maybe", "hetero_mesh_endpoint": "no such:thing"}
    plan = _plan(lap2=nonsense, lap3={"hetero_mesh_remote": True})  # remote without an endpoint, too
    assert "error" not in plan
    assert plan["enabled"] is False
    # Still planned with their outer addresses: turning the mesh off removes what it admitted from them.
    assert {name: host["lan"] for name, host in plan["hosts"].items()} == {
        "lap1": "192.168.1.11",
        "lap2": "192.168.1.12",
        "lap3": "192.168.1.13",
    }
    assert plan["interface"] == INTERFACE and plan["port"] == PORT


def test_no_hosts_no_mesh():
    assert mesh.mesh_plan([], {}) == {"enabled": False, "hosts": {}}


# --- the mesh on ----------------------------------------------------------------------------------------


def test_hosts_get_mesh_addresses_in_inventory_order_and_the_schema_defaults():
    plan = _plan(ON)
    assert "error" not in plan
    assert plan["enabled"] is True
    assert plan["subnet"] == DEFAULTS["hetero_mesh_subnet"]
    assert plan["prefix"] == int(DEFAULTS["hetero_mesh_subnet"].split("/")[1])
    assert (plan["interface"], plan["port"]) == (INTERFACE, PORT)
    base = DEFAULTS["hetero_mesh_subnet"].rsplit(".", 1)[0]
    assert [plan["hosts"][name]["address"] for name in HOSTS] == [f"{base}.1", f"{base}.2", f"{base}.3"]
    # Nobody named an endpoint: the others reach each host at its cluster address and the mesh port.
    assert plan["hosts"]["lap2"]["endpoint"] == f"192.168.1.12:{PORT}"
    assert not any(host["remote"] for host in plan["hosts"].values())


def test_inventory_order_decides_the_addresses():
    plan = mesh.mesh_plan(["lap3", "lap1", "lap2"], _hostvars({**ON, "hetero_mesh_subnet": "10.9.8.0/29"}))
    assert {name: host["address"] for name, host in plan["hosts"].items()} == {
        "lap3": "10.9.8.1",
        "lap1": "10.9.8.2",
        "lap2": "10.9.8.3",
    }
    assert plan["prefix"] == 29


def test_own_port_and_interface_and_explicit_endpoints():
    plan = _plan(
        {**ON, "hetero_mesh_port": "51999", "hetero_mesh_interface": "wg7"},  # YAML or typed text alike
        lap2={"hetero_mesh_endpoint": "home.example.org", "hetero_mesh_remote": True},
        lap3={"hetero_mesh_endpoint": "203.0.113.7:40000"},
    )
    assert (plan["interface"], plan["port"]) == ("wg7", 51999)
    assert plan["hosts"]["lap1"]["endpoint"] == "192.168.1.11:51999"
    assert plan["hosts"]["lap2"]["endpoint"] == "home.example.org:51999"  # no port: the mesh's
    assert plan["hosts"]["lap3"]["endpoint"] == "203.0.113.7:40000"  # its own port: kept
    assert [plan["hosts"][name]["remote"] for name in HOSTS] == [False, True, False]


@pytest.mark.parametrize(("value", "remote"), [(True, True), ("yes", True), ("false", False), (False, False)])
def test_hetero_mesh_remote_takes_yaml_booleans(value, remote):
    plan = _plan(ON, lap3={"hetero_mesh_endpoint": "203.0.113.7", "hetero_mesh_remote": value})
    assert "error" not in plan
    assert plan["hosts"]["lap3"]["remote"] is remote


# --- a wrong mesh setting: one line naming the field and the fix ----------------------------------------


@pytest.mark.parametrize(
    ("cluster", "words"),
    [
        ({"hetero_mesh_subnet": "10.213.0/24"}, ["hetero_mesh_subnet", "such as 10.213.0.0/24", "0/24"]),
        ({"hetero_mesh_subnet": "10.213.0.5/24"}, ["hetero_mesh_subnet", "host bits", "10.213.0.0/24"]),
        ({"hetero_mesh_subnet": "10.213.0.0/30"}, ["hetero_mesh_subnet", "room for 2 hosts, not 3"]),
        ({"hetero_mesh_subnet": "8.8.8.0/24"}, ["hetero_mesh_subnet", "not a private network"]),
        ({"hetero_mesh_port": "70000"}, ["hetero_mesh_port", "1-65535", "70000"]),
        ({"hetero_mesh_port": "wg"}, ["hetero_mesh_port", "whole number"]),
        ({"hetero_mesh_interface": "hetero-cluster-mesh"}, ["hetero_mesh_interface", "1-15", "cluster-mesh"]),
        ({"hetero_mesh": "ipsec"}, ["hetero_mesh", "none, wireguard", "ipsec"]),
    ],
)
def test_a_wrong_cluster_mesh_setting_is_one_line_naming_it(cluster, words):
    error = _plan({**ON, **cluster})["error"]
    assert "\n" not in error
    assert "inventory/group_vars/all.yml" in error
    for word in words:
        assert word in error


def test_a_remote_host_without_an_endpoint_is_named_with_both_fields():
    error = _plan(ON, lap2={"hetero_mesh_remote": True})["error"]
    assert "\n" not in error
    assert error.startswith("host lap2: ")
    assert "hetero_mesh_remote" in error and "hetero_mesh_endpoint" in error
    assert "set it" in error


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ({"hetero_mesh_endpoint": "home example.org"}, ["hetero_mesh_endpoint", "host:port", "home example"]),
        ({"hetero_mesh_endpoint": "203.0.113.7:"}, ["hetero_mesh_endpoint", "host:port"]),
        ({"hetero_mesh_endpoint": "203.0.113.7:99999"}, ["hetero_mesh_endpoint", "host:port", "99999"]),
        ({"hetero_mesh_remote": "maybe"}, ["hetero_mesh_remote", "true or false", "maybe"]),
    ],
)
def test_a_wrong_per_host_mesh_setting_names_the_host(host, words):
    error = _plan(ON, lap3=host)["error"]
    assert "\n" not in error
    assert error.startswith("host lap3: ") and error.endswith("fix it in the inventory")
    for word in words:
        assert word in error


# --- the mesh subnet against a host's own networks ------------------------------------------------------


def _links(*links: tuple[str, str, int]) -> list[dict]:
    """`ip -j -4 addr` output, trimmed to what the filter reads (and some of what it does not)."""
    return [
        {
            "ifindex": index,
            "ifname": name,
            "flags": ["UP"],
            "addr_info": [{"family": "inet", "local": local, "prefixlen": prefix, "scope": "global"}],
        }
        for index, (name, local, prefix) in enumerate(links, start=1)
    ]


def test_a_mesh_subnet_overlapping_a_host_network_names_host_interface_and_network():
    addresses = _links(("lo", "127.0.0.1", 8), ("eth0", "10.213.0.57", 16))
    line = mesh.mesh_overlap(addresses, "10.213.0.0/24", INTERFACE, "lap2")
    assert "\n" not in line
    assert line.startswith(
        "host lap2: hetero_mesh_subnet 10.213.0.0/24 overlaps eth0's network 10.213.0.0/16;"
    )
    assert "inventory/group_vars/all.yml" in line


def test_the_mesh_own_interface_is_no_overlap_and_other_networks_are_fine():
    addresses = _links(("lo", "127.0.0.1", 8), ("eth0", "192.168.1.12", 24), (INTERFACE, "10.213.0.2", 24))
    assert mesh.mesh_overlap(addresses, "10.213.0.0/24", INTERFACE, "lap2") == ""
    assert mesh.mesh_overlap([], "10.213.0.0/24", INTERFACE, "lap2") == ""


# --- what a host admits to its WireGuard port -----------------------------------------------------------


def test_peer_sources_are_the_peers_outer_addresses_and_literal_endpoints():
    plan = _plan(
        ON,
        lap1={"hetero_mesh_endpoint": "192.168.1.11:51999"},  # its own lan address again: once
        lap2={"hetero_mesh_endpoint": "203.0.113.7", "hetero_mesh_remote": True},
        # A host name: nobody resolves it for the firewall.
        lap3={"hetero_mesh_endpoint": "home.example.org", "hetero_mesh_remote": True},
    )
    assert mesh.mesh_peer_sources(plan, "lap1") == ["192.168.1.12", "203.0.113.7", "192.168.1.13"]
    # A remote host's peers come through NAT from addresses nobody knows: it admits the port from anywhere.
    assert mesh.mesh_peer_sources(plan, "lap3") == [mesh.ANYWHERE] == ["0.0.0.0/0"]
    assert mesh.mesh_peer_sources({"enabled": False, "hosts": {}}, "lap1") == []


# --- the wg-quick configuration -------------------------------------------------------------------------

KEY_FILE = f"/etc/wireguard/{INTERFACE}.key"
PUBLIC = {name: f"{name.upper()}pubkeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" for name in HOSTS}


def _render(plan: dict, host: str) -> str:
    """As the template module does: trim_blocks on; an undefined variable is an error, not blank text."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPO / "roles" / "mesh" / "templates"),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    hostvars = _hostvars(ON)
    for name in HOSTS:
        hostvars[name]["hetero_mesh_public_key"] = PUBLIC[name]
    return env.get_template("mesh.conf.j2").render(
        inventory_hostname=host,
        hetero_mesh_plan=plan,
        hostvars=hostvars,
        hetero_mesh_key_file=KEY_FILE,
        hetero_mesh_keepalive=25,
    )


def _sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """[(section, {key: value})] as wg-quick reads it: comments and blank lines are nothing."""
    sections: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if re.fullmatch(r"\[\w+\]", line):
            sections.append((line, {}))
        elif line:
            key, value = (part.strip() for part in line.split("=", 1))
            assert key not in sections[-1][1], f"{key} twice in one section"
            sections[-1][1][key] = value
    return sections


@pytest.fixture(scope="module")
def plan():
    return _plan(ON, lap3={"hetero_mesh_endpoint": "203.0.113.7:40000", "hetero_mesh_remote": "yes"})


def test_the_config_gives_this_host_its_address_port_and_key_file(plan):
    text = _render(plan, "lap1")
    (kind, interface), *peers = _sections(text)
    assert kind == "[Interface]"
    assert interface["Address"] == f"{plan['hosts']['lap1']['address']}/{plan['prefix']}"
    assert interface["ListenPort"] == str(PORT)
    assert interface["PostUp"] == f"wg set %i private-key {KEY_FILE}"
    assert "PrivateKey" not in text  # the key stays in its file, never in a config Ansible writes
    assert [kind for kind, _ in peers] == ["[Peer]", "[Peer]"]


def test_every_other_host_is_a_peer_with_keepalive_only_towards_or_from_a_remote_one(plan):
    peers = [values for kind, values in _sections(_render(plan, "lap1")) if kind == "[Peer]"]
    assert peers == [
        {
            "PublicKey": PUBLIC["lap2"],
            "AllowedIPs": f"{plan['hosts']['lap2']['address']}/32",
            "Endpoint": f"192.168.1.12:{PORT}",
        },
        {
            "PublicKey": PUBLIC["lap3"],
            "AllowedIPs": f"{plan['hosts']['lap3']['address']}/32",
            "Endpoint": "203.0.113.7:40000",
            "PersistentKeepalive": "25",
        },
    ]
    # The remote host itself keeps its mappings open towards everyone.
    remote = [values for kind, values in _sections(_render(plan, "lap3")) if kind == "[Peer]"]
    assert [peer["PublicKey"] for peer in remote] == [PUBLIC["lap1"], PUBLIC["lap2"]]
    assert [peer.get("PersistentKeepalive") for peer in remote] == ["25", "25"]
