"""Meeting the other ranks: a TCP store at the master, a hardware record from everyone, a process group.

The hardware records are exchanged through the store *before* the process group exists, because the
backend (NCCL or gloo) depends on what every rank has.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import torch.distributed as dist

from . import connections
from .backend import choose_backend
from .distenv import DistEnv
from .errors import BadInput, WentOnWithout


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """The C++ store logs stack traces while it retries; the user gets our one line instead."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _listen_on_master_address(addr: str, port: int) -> int:
    """A listening socket for the store bound to the master address only, handed over as a file descriptor.

    The store has no authentication, and torch's TCPStore alone listens on every interface of the master;
    bound here it answers only on the cluster's address. Returns -1 (torch: listen on every interface, with
    a warning) when that address cannot be known here: MASTER_ADDR is not an address of this machine (a
    NAT'd address), or it is a name this machine resolves to loopback while its peers resolve it to the
    LAN address (Debian maps its own hostname to 127.0.1.1; SLURM gives hostnames).
    """
    try:
        family, kind, proto, _, where = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        message = f"MASTER_ADDR {addr} does not resolve ({e.strerror}); give the master's address or name"
        raise BadInput(message) from None
    if ipaddress.ip_address(where[0]).is_loopback and not _is_ip_literal(addr):
        return _listen_everywhere(addr, port, f"resolves to {where[0]} here")
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restarted rank rebinds at once
    try:
        sock.bind(where)
        sock.listen(socket.SOMAXCONN)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise BadInput(f"master port {port} is already in use here; pick another MASTER_PORT") from None
        if e.errno != errno.EADDRNOTAVAIL:
            raise
        return _listen_everywhere(addr, port, "is not an address of this machine")
    return sock.detach()  # the store owns the descriptor from now on


def _is_ip_literal(addr: str) -> bool:
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        return False
    return True


def _listen_everywhere(addr: str, port: int, why: str) -> int:
    print(
        f"hetero-train: warning: MASTER_ADDR {addr} {why}; the rendezvous store listens on every interface"
        f" (port {port}): keep it behind the firewall, or set MASTER_ADDR to the master's cluster IP",
        file=sys.stderr,
        flush=True,
    )
    return -1


@dataclass
class World:
    """The job as this rank sees it; with one process there is no process group at all."""

    rank: int
    size: int
    backend: str
    records: list[dict]
    # What reform.py needs to re-form this world: the TCP store (None with one process), the prefix of
    # this job's keys in it, the collective timeout, each member's original rank and the world's generation
    # (0: the world the job started with; each re-formed world is the next).
    store: object | None = None
    prefix: str = ""
    timeout_s: float = 0.0
    members: list[int] = field(default_factory=list)
    generation: int = 0
    hosts_store: bool = False  # this process serves the TCP store: it must outlive every other rank
    connections: set[str] = field(default_factory=set)  # the process group's sockets (connections.py)

    def __post_init__(self) -> None:
        if not self.members:
            self.members = list(range(self.size))

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def names(self) -> list[str]:
        """Each rank's host name (its number where the record has none), as the planner's lines print it."""
        return [str(r.get("hostname", i)) for i, r in enumerate(self.records)]

    @property
    def original_rank(self) -> int:
        """This rank's number in the job's first world: it names its snapshot and metrics files."""
        return self.members[self.rank]

    def all_gather(self, obj) -> list:
        if not self.distributed:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
        # A survivor of re-formed worlds counts itself out of each: a store host that was left out of one
        # waits for every survivor of it before it takes the store down (reform.py).
        for generation in range(1, self.generation + 1):
            with contextlib.suppress(Exception):  # the host is gone already: nobody is waiting
                self.store.add(exited_key(self.prefix, generation), 1)


def exited_key(prefix: str, generation: int) -> str:
    """The store key counting the survivors of world `generation` whose process has finished."""
    return f"{prefix}gen{generation}/exited"


def join(
    env: DistEnv, record: dict, requested_backend: str, timeout_s: float, collective_timeout_s: float
) -> World:
    """Meet every rank within timeout_s; collectives then fail after collective_timeout_s of silence
    (--collective-timeout), which is what bounds the wait for a vanished peer."""
    if env.world_size == 1:
        return World(0, 1, choose_backend(requested_backend, [record], dist.is_nccl_available()), [record])
    where = f"{env.master_addr}:{env.master_port}"
    timeout = timedelta(seconds=timeout_s)
    serve = env.rank == 0 and not env.agent_store  # under torchrun its agent serves the store
    listen_fd = _listen_on_master_address(env.master_addr, env.master_port) if serve else -1
    try:
        with _quiet_stderr():
            tcp = dist.TCPStore(
                env.master_addr, env.master_port, env.world_size, is_master=serve,
                timeout=timeout, wait_for_workers=True,
                master_listen_fd=listen_fd if listen_fd >= 0 else None,
            )  # fmt: skip
            store = dist.PrefixStore(f"hetero/{env.restart}/", tcp)
            _check_not_gone_on(store, env.rank, where)
            store.set(f"hw/{env.rank}", json.dumps(record))
            records = [json.loads(store.get(f"hw/{r}")) for r in range(env.world_size)]
    except dist.DistError as e:
        text = str(e)
        if env.rank == 0 and "address already in use" in text.lower():
            raise BadInput(
                f"master port {env.master_port} is already in use here; pick another MASTER_PORT"
            ) from None
        if env.rank == 0:
            raise BadInput(
                f"not all {env.world_size} ranks reached master {where} within {timeout_s:g} s;"
                " start every rank with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE; if a laptop is"
                " away, re-run launch once it is back (snapshots are kept)"
            ) from None
        raise BadInput(
            f"master {where} unreachable within {timeout_s:g} s; check MASTER_ADDR/firewall"
        ) from None
    backend = choose_backend(requested_backend, records, dist.is_nccl_available())
    made = init_group(backend, store, env.rank, env.world_size, collective_timeout_s)
    return World(
        env.rank, env.world_size, backend, records, store=tcp, prefix=f"hetero/{env.restart}/",
        timeout_s=collective_timeout_s, hosts_store=serve, connections=made,
    )  # fmt: skip


def init_group(backend: str, store, rank: int, size: int, timeout_s: float) -> set[str]:
    """The default process group on `store`; returns the sockets it opened (cut when a peer leaves)."""
    with connections.opened(skip_port=_store_port(store)) as made:
        dist.init_process_group(
            backend, store=store, rank=rank, world_size=size, timeout=timedelta(seconds=timeout_s)
        )
    return made


def _store_port(store) -> int | None:
    """The TCP store's port under any prefixes: connections to and from it are the store's, not gloo's."""
    while isinstance(store, dist.PrefixStore):
        store = store.underlying_store
    return getattr(store, "port", None)


WORLD_KEY = "world"  # the latest re-formed world, as its rank 0 announces it (world_change.py)


def _check_not_gone_on(store, rank: int, where: str) -> None:
    """A rank (re)started while the job's store still serves a world re-formed without it: say so and stop.
    The others' process group is theirs alone; waiting at the rendezvous would only time out."""
    if not store.check([WORLD_KEY]):
        return
    running = json.loads(store.get(WORLD_KEY))
    if rank not in running["members"]:
        raise WentOnWithout(
            f"rank {rank}: the job at {where} went on without this rank from step {running['step']} (ranks"
            f" {running['members']} train on); it stops (exit 0), and the next launch trains with it again"
        )
