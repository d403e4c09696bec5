"""Who is still in the world when a laptop may leave mid-run (`--peer-timeout`; off when 0).

Every rank runs a heartbeat (heartbeat.py). When a rank's beats stop for the peer timeout, the first rank to
notice writes the departure under `<prefix>gen<g>/departed` with compare-and-set: the first writer wins, and
every survivor follows that one decision whatever it saw itself, so all agree on who is still in. Each
survivor then cuts its process group's connections (connections.py; NCCL: abort), so that a collective
stuck on the lost rank returns at once, and the trainer re-forms the world without the ranks that left
(world_change.py). A survivor that is busy computing learns of it from its heartbeat, which reads the key.

The store is the arbiter, and it lives in the first rank 0's process. A rank that cannot reach it for the
peer timeout (the master's laptop left, or this laptop's own link did) takes no part in any decision: it
stops (exit 3, snapshots kept). A rank that is alive but was counted out (its beats did not reach the store
in time: a closed lid that opens again) stops too, with a line saying so.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import asdict, dataclass

import torch.distributed as dist

from . import connections
from .distenv import DistEnv
from .heartbeat import Heartbeat, store_client
from .peer_lost import is_lost_peer
from .rendezvous import World

# Beyond the peer timeout, how long a survivor whose collective failed waits for the departure to be
# decided (the heartbeat that notices needs up to one more beat, and a loaded machine delays it).
DECISION_SLACK_S = 10.0


@dataclass(frozen=True)
class Departure:
    """What the survivors agreed on: who left (original rank numbers), why, and who noticed."""

    left: tuple[int, ...]
    why: str
    noticed_by: int
    store_lost: bool = False  # this rank lost the store itself: it decides nothing and stops

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: bytes | str) -> Departure:
        f = json.loads(text)
        return cls(tuple(f["left"]), f["why"], f["noticed_by"], f.get("store_lost", False))


class Membership:
    """One per rank for the whole run; `formed` after each re-formed world, `stop` at the end."""

    def __init__(self, world: World, env: DistEnv, peer_timeout_s: float):
        self.world, self.timeout_s = world, peer_timeout_s
        self.where = f"{env.master_addr}:{env.master_port}"
        self.departure: Departure | None = None
        self._decided = threading.Event()
        self._lock = threading.Lock()
        self.heartbeat = Heartbeat(
            store_client(env.master_addr, env.master_port),
            world.prefix,
            world.original_rank,
            world.members,
            peer_timeout_s,
            self._check,
        )
        self.heartbeat.start()

    @classmethod
    def for_run(cls, world: World, env: DistEnv, peer_timeout_s: float) -> Membership | None:
        """None with one rank, or with the peer timeout off."""
        return cls(world, env, peer_timeout_s) if world.distributed and peer_timeout_s > 0 else None

    def _check(self, store, silent: list[int], store_lost: bool) -> None:
        """After every beat (heartbeat thread): settle a departure noticed here or decided by another rank."""
        if self._decided.is_set():
            return
        me = self.world.original_rank
        if store_lost:
            why = f"the rendezvous store at {self.where} did not answer for {self.timeout_s:g} s"
            self._settle(Departure((), why, me, store_lost=True))
            return
        if store is None:
            return
        key = f"gen{self.world.generation}/departed"
        try:
            if silent:
                mine = Departure(tuple(sorted(silent)), f"no heartbeat for {self.timeout_s:g} s", me)
                agreed = store.compare_set(key, "", mine.to_json())  # the first writer's decision stands
            elif store.check([key]):
                agreed = store.get(key)
            else:
                return
        except Exception:  # noqa: BLE001 - the store is away: the heartbeat counts that against it
            return
        self._settle(Departure.from_json(agreed))

    def _settle(self, departure: Departure) -> None:
        with self._lock:
            if self._decided.is_set():
                return
            self.departure = departure
            self._cut()
            self._decided.set()

    def _cut(self) -> None:
        """Make every collective of the current world fail now instead of after the collective timeout."""
        if self.world.backend == "nccl":  # NCCL's abort wakes its pending kernels (untested here: no GPU)
            with contextlib.suppress(Exception):  # already torn down
                dist.distributed_c10d._abort_process_group()
            return
        connections.cut(self.world.connections)

    def agreed(self, error: BaseException) -> Departure | None:
        """Main thread, after a collective raised `error`: the departure the survivors agreed on, waited for
        up to the peer timeout and some slack; None when nobody left (the error is something else)."""
        if not is_lost_peer(error):
            return None
        self._decided.wait(self.timeout_s + self.heartbeat.interval + DECISION_SLACK_S)
        return self.departure

    def formed(self, world: World) -> None:
        """The world was re-formed: watch its members, ready for the next departure."""
        with self._lock:
            self.world, self.departure = world, None
            self._decided.clear()
        self.heartbeat.watch(world.members)

    def stop(self) -> None:
        self.heartbeat.stop()
