"""The rank plan: which ranks each inventory host runs, derived from the inventory and hardware facts.

Pure Python, shared by Ansible and the TUI. The Ansible filter `hetero_rank_plan`
(roles/hardware/filter_plugins/rank_plan.py) only adapts `hostvars` to `HostSpec`s and turns a
`RankPlanError` into `{"error": "..."}`, so the playbook can fail with that one line, on purpose, before
anything is changed; the TUI's inventory screen asks the same `plan_ranks`.

Rules (docs/inventory.md, "The rank plan"):
- a GPU host runs one rank per GPU (or `hetero_ranks`, at most its GPU count), each rank on its own GPU;
  a CPU host runs `hetero_ranks` ranks, 1 when unset;
- a host may pin its first rank with `hetero_rank`; its ranks are then first..first+n-1;
- every other host takes, in inventory order, the lowest free block of ranks it fits in;
- ranks must be exactly 0..W-1 with no gap or overlap; rank 0's host is the master.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .settings import HOST_BY_NAME, as_text

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class RankPlanError(ValueError):
    """A mistake in the inventory; the message is one line naming the host, the field and the fix."""


@dataclass(frozen=True)
class HostSpec:
    name: str  # inventory hostname
    address: str  # ansible_host, or the name when unset
    gpu_count: int  # usable GPUs (hardware facts)
    ranks: object = None  # hetero_ranks as written in the inventory (None: unset)
    first_rank: object = None  # hetero_rank as written in the inventory (None: unset)
    cluster_addr: str | None = None  # hetero_cluster_addr once known, to catch one machine listed twice


def _whole_number(host: str, field: str, value: object) -> int:
    """The host setting's value, checked by its rule in settings.py (the TUI's host form uses the same)."""
    # Blank means "unset" to the schema; here the key is present, so an empty value is a mistake of its own.
    empty = "is empty; give a whole number or remove it"
    problem = HOST_BY_NAME[field].problem(value) if as_text(value) else empty
    if problem:
        raise RankPlanError(f"host {host}: {field}: {problem}; fix it in the inventory")
    return int(str(value).strip())


def _is_loopback(address: str) -> bool:
    if address.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _check_addresses(hosts: list[HostSpec]) -> None:
    seen: dict[str, str] = {}
    seen_cluster: dict[str, str] = {}
    for host in hosts:
        key = host.address.lower()
        if key in seen:
            raise RankPlanError(
                f"hosts {seen[key]} and {host.name} both have address {host.address}: list each machine once "
                f"(remove {host.name}; give {seen[key]} hetero_ranks: N to run several ranks there)"
            )
        seen[key] = host.name
        if host.cluster_addr:
            if host.cluster_addr in seen_cluster:
                other = seen_cluster[host.cluster_addr]
                raise RankPlanError(
                    f"hosts {other} and {host.name} are the same machine (both reach the cluster as "
                    f"{host.cluster_addr}): list it once (remove {host.name}; use hetero_ranks: N on {other})"
                )
            seen_cluster[host.cluster_addr] = host.name
    if len(hosts) > 1:
        for host in hosts:
            if _is_loopback(host.address):
                raise RankPlanError(
                    f"host {host.name}: ansible_host is {host.address!r} but the cluster has other hosts, "
                    "which cannot reach it there; set ansible_host to its LAN address "
                    "(ansible_connection: local may stay)"
                )


def _rank_count(host: HostSpec) -> int:
    if host.ranks is None:
        return host.gpu_count if host.gpu_count > 0 else 1
    count = _whole_number(host.name, "hetero_ranks", host.ranks)
    if host.gpu_count > 0 and count > host.gpu_count:
        raise RankPlanError(
            f"host {host.name}: hetero_ranks is {count} but it has {host.gpu_count} GPU(s) and each GPU rank "
            f"needs its own GPU; set hetero_ranks to at most {host.gpu_count} or remove it"
        )
    return count


def _pinned_blocks(hosts: list[HostSpec], counts: dict[str, int]) -> dict[str, int]:
    """First rank of every host that pins one; overlapping blocks are an error."""
    pinned: dict[str, int] = {}
    owner: dict[int, str] = {}
    for host in hosts:
        if host.first_rank is None:
            continue
        first = _whole_number(host.name, "hetero_rank", host.first_rank)
        for rank in range(first, first + counts[host.name]):
            if rank in owner:
                raise RankPlanError(
                    f"hosts {owner[rank]} and {host.name} both claim rank {rank} (hetero_rank/hetero_ranks); "
                    f"give {host.name} a hetero_rank that does not overlap, or remove hetero_rank"
                )
            owner[rank] = host.name
        pinned[host.name] = first
    return pinned


def _place_unpinned(hosts: list[HostSpec], counts: dict[str, int], pinned: dict[str, int]) -> dict[str, int]:
    taken = {rank for name, first in pinned.items() for rank in range(first, first + counts[name])}
    firsts = dict(pinned)
    for host in hosts:
        if host.name in firsts:
            continue
        first = 0
        while any(rank in taken for rank in range(first, first + counts[host.name])):
            first += 1
        firsts[host.name] = first
        taken.update(range(first, first + counts[host.name]))
    return firsts


def _check_contiguous(hosts: list[HostSpec], counts: dict[str, int], firsts: dict[str, int]) -> int:
    world_size = sum(counts.values())
    used = {rank for name, first in firsts.items() for rank in range(first, first + counts[name])}
    missing = sorted(set(range(world_size)) - used)
    if missing:
        beyond = sorted(
            (h for h in hosts if firsts[h.name] + counts[h.name] > world_size), key=lambda h: firsts[h.name]
        )
        culprit = beyond[-1].name if beyond else hosts[-1].name
        raise RankPlanError(
            f"ranks must be 0..{world_size - 1} with no gap, but rank {missing[0]} is unused: host {culprit} "
            f"has hetero_rank: {firsts[culprit]}; lower it (e.g. to {missing[0]}) or remove hetero_rank"
        )
    return world_size


def plan_ranks(hosts: list[HostSpec]) -> dict:
    """Return {"world_size", "master_host", "hosts": {name: {"first_rank", "ranks": [...]}}}.

    Each rank entry is {"rank", "local_rank", "gpu"} with gpu None on CPU hosts.
    """
    if not hosts:
        raise RankPlanError(
            "inventory: no hosts under all.children.cluster.hosts; "
            "list your machines there (see inventory/hosts.yml)"
        )
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise RankPlanError(f"host {dup} is listed twice in the cluster group; list it once")
    _check_addresses(hosts)
    counts = {h.name: _rank_count(h) for h in hosts}
    pinned = _pinned_blocks(hosts, counts)
    firsts = _place_unpinned(hosts, counts, pinned)
    world_size = _check_contiguous(hosts, counts, firsts)

    plan_hosts = {}
    for host in hosts:
        first = firsts[host.name]
        plan_hosts[host.name] = {
            "first_rank": first,
            "ranks": [
                {"rank": first + local, "local_rank": local, "gpu": local if host.gpu_count > 0 else None}
                for local in range(counts[host.name])
            ],
        }
    master = next(name for name, entry in plan_hosts.items() if entry["first_rank"] == 0)
    return {"world_size": world_size, "master_host": master, "hosts": plan_hosts}
