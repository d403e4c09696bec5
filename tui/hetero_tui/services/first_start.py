"""First start: is the inventory still the shipped example, and the user's own inventory made from it.

The example (inventory/hosts.yml) gives every host a documentation address (RFC 5737's 192.0.2.0/24), one no
real machine has. So a placeholder is told by its address alone, with no copy of the example to compare
against: in the example itself, in an unedited copy of it, or in a copy only partly edited.
"""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

# Reserved for documentation: never a machine on anyone's network (RFC 5737, RFC 3849, RFC 2606).
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
DOCUMENTATION_DOMAINS = ("example", "example.com", "example.net", "example.org", "invalid")
# The user's own inventory, beside the example so that inventory/group_vars/ still applies (README step 3).
OWN_INVENTORY = "mine.yml"
LOCAL_INVENTORY = "local.yml"


def is_placeholder(address: str) -> bool:
    """An address reserved for documentation, which no real host has."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        name = address.lower().rstrip(".")
        return any(name == domain or name.endswith("." + domain) for domain in DOCUMENTATION_DOMAINS)
    return any(ip in net for net in DOCUMENTATION_NETWORKS)


def placeholder_hosts(inventory) -> list:
    """The inventory's hosts (services.inventory HostEntry) whose address is a placeholder."""
    return [host for host in inventory.hosts if is_placeholder(host.address)]


def is_example(inventory) -> bool:
    """Every host still has a placeholder address, and it is not the user's own copy (mine.yml, made from
    the example and waiting for its addresses): the example as shipped, or copied by hand and not edited."""
    every = bool(inventory.hosts) and len(placeholder_hosts(inventory)) == len(inventory.hosts)
    return every and inventory.path.name != OWN_INVENTORY


def own_inventory_path(example: Path) -> Path:
    return Path(example).parent / OWN_INVENTORY


def local_inventory_path(beside: Path, repo_root: Path) -> Path:
    """inventory/local.yml: the one beside the open inventory, else the repository's."""
    sibling = Path(beside).parent / LOCAL_INVENTORY
    return sibling if sibling.is_file() else Path(repo_root) / "inventory" / LOCAL_INVENTORY


def create_own(example: Path) -> tuple[Path, bool]:
    """Copy the example to mine.yml beside it, byte for byte (its comments explain every field). Returns the
    path and whether it was created: an existing mine.yml is the user's and is never overwritten."""
    target = own_inventory_path(example)
    if target.exists():
        return target, False
    shutil.copyfile(example, target)
    return target, True


def placeholder_warning(hosts: list) -> str:
    """One sentence naming the hosts Ansible would try to reach at placeholder addresses."""
    named = ", ".join(f"{host.name} ({host.address})" for host in hosts[:3])
    more = f" and {len(hosts) - 3} more" if len(hosts) > 3 else ""
    return f"{named}{more}: placeholder addresses of the example, not your machines"
