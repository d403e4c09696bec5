"""Meeting the other ranks: a TCP store at the master, a hardware record from everyone, a process group.

The hardware records are exchanged through the store *before* the process group exists, because the
backend (NCCL or gloo) depends on what every rank has.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch.distributed as dist

from .backend import choose_backend
from .distenv import DistEnv
from .errors import BadInput


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


@dataclass
class World:
    """The job as this rank sees it; with one process there is no process group at all."""

    rank: int
    size: int
    backend: str
    records: list[dict]

    @property
    def distributed(self) -> bool:
        return self.size > 1

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


def join(
    env: DistEnv, record: dict, requested_backend: str, timeout_s: float, collective_timeout_s: float
) -> World:
    """Meet every rank within timeout_s; collectives then fail after collective_timeout_s of silence
    (--collective-timeout), which is what bounds the wait for a vanished peer."""
    if env.world_size == 1:
        return World(0, 1, choose_backend(requested_backend, [record], dist.is_nccl_available()), [record])
    where = f"{env.master_addr}:{env.master_port}"
    timeout = timedelta(seconds=timeout_s)
    try:
        with _quiet_stderr():
            serve = env.rank == 0 and not env.agent_store
            tcp = dist.TCPStore(
                env.master_addr, env.master_port, env.world_size, is_master=serve,
                timeout=timeout, wait_for_workers=True,
            )  # fmt: skip
            store = dist.PrefixStore(f"hetero/{env.restart}/", tcp)
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
    dist.init_process_group(
        backend,
        store=store,
        rank=env.rank,
        world_size=env.world_size,
        timeout=timedelta(seconds=collective_timeout_s),
    )
    return World(env.rank, env.world_size, backend, records)
