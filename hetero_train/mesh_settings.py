"""The encrypted mesh's settings (`hetero_mesh` and its knobs): part of the one settings schema, whose lists
(settings.SETTINGS, and this module's per-host table) take them from here. roles/mesh reads them, the
TUI's settings form shows the cluster ones, preflight checks all of them with these rules.

None of them reaches the trainer: with the mesh on, the trainer simply gets the mesh's address and interface
as MASTER_ADDR and GLOO/NCCL_SOCKET_IFNAME (roles/hardware), like any other cluster address.

No torch import here: the controller and the TUI import this module.
"""

from __future__ import annotations

import re

from .setting import Setting

MESH_KINDS = ("none", "wireguard")
# wg-quick's own rule for an interface name (and Linux's 15-character limit).
_INTERFACE = re.compile(r"^[A-Za-z0-9_=+.-]{1,15}$")
_NETWORK = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$")
# host[:port], the port 1-65535 (WireGuard refuses the rest only when the interface comes up, on that host).
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_ENDPOINT = re.compile(rf"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:{_PORT})?$")

MESH_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "hetero_mesh",
        None,
        str,
        "none",
        "an encrypted WireGuard mesh between the hosts that all training traffic uses (none: the plain"
        " cluster network)",
        choices=MESH_KINDS,
    ),
    Setting(
        "hetero_mesh_subnet",
        None,
        str,
        "10.213.0.0/24",
        "the mesh's private IPv4 network; hosts get its addresses in inventory order",
        pattern=_NETWORK,
        pattern_help="must be an IPv4 network such as 10.213.0.0/24",
    ),
    Setting(
        "hetero_mesh_port",
        None,
        int,
        51820,
        "the UDP port WireGuard listens on, on every host (the only port a host admits from its peers'"
        " outer addresses while the mesh is on)",
        minimum=1,
        maximum=65535,
    ),
    Setting(
        "hetero_mesh_interface",
        None,
        str,
        "hc-mesh",
        "the mesh's network interface on every host",
        pattern=_INTERFACE,
        pattern_help="must be 1-15 letters, digits or _=+.- (a network interface name)",
    ),
)

# Per-host settings (host variables in the inventory), checked by preflight (roles/mesh) with these rules.
MESH_HOST_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "hetero_mesh_endpoint",
        None,
        str,
        None,
        "where the other hosts reach this host's WireGuard port, host[:port] (default: its cluster address"
        " and hetero_mesh_port); needed for a host on another network",
        pattern=_ENDPOINT,
        pattern_help="must be host or host:port (port 1-65535), e.g. 203.0.113.7:51820 or home.example.org",
        form=False,
    ),
    Setting(
        "hetero_mesh_remote",
        None,
        bool,
        False,
        "this host is on another network: the others reach it at hetero_mesh_endpoint only",
        form=False,
    ),
)
MESH_HOST_BY_NAME: dict[str, Setting] = {s.name: s for s in MESH_HOST_SETTINGS}
