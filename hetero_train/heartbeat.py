"""A rank's sign of life, apart from its steps: a thread that counts a key up in the rendezvous store.

Why not the collectives: a slow CPU rank's step may take longer than any timeout a laptop that left should
be noticed in, and a link that is cut (or a lid that is closed) sends no error at all. So every rank adds 1
to `<prefix>beat/<id>` every `interval` seconds over its own store connection, and reads the others'
counters; a counter that has not moved for `peer_timeout` seconds of this rank's clock is a rank gone (no
clocks are compared between hosts). A store that cannot be reached for as long is reported too: the
master's laptop left, or this laptop's own link did.

What is done about it is membership.py's: this module only watches and calls back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import torch.distributed as dist

BEATS_PER_TIMEOUT = 8  # a peer is gone after this many beats without a move (a loaded CPU skips some)


class Heartbeat:
    """Beats for `me` and watches `members` (original rank numbers). After every beat it calls
    `on_check(store, silent, store_lost)`: its own store connection (None while the store is away), the
    members silent for `peer_timeout` seconds, and whether the store was unreachable as long.
    A daemon thread: it never keeps the process alive."""

    def __init__(
        self,
        connect: Callable[[float], object],
        prefix: str,
        me: int,
        members: Sequence[int],
        peer_timeout_s: float,
        on_check: Callable[[object | None, list[int], bool], None],
    ):
        self.interval = peer_timeout_s / BEATS_PER_TIMEOUT
        self.connect, self.prefix, self.me = connect, prefix, me
        self.timeout_s = peer_timeout_s
        self.on_check = on_check
        self._lock = threading.Lock()
        self._members = list(members)
        self._seen: dict[int, tuple[int, float]] = {}  # member -> (counter, when it last moved)
        self._store = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hetero-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def watch(self, members: Sequence[int]) -> None:
        """The current world's members (a re-formed world has fewer): only they are watched from now on."""
        with self._lock:
            self._members = list(members)
            self._seen = {m: v for m, v in self._seen.items() if m in self._members}

    def _run(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            try:
                silent = self._beat_and_read(now)
                last_ok = now
            except Exception:  # noqa: BLE001 - the store is away (timeout, refused, reset): counted below
                self._store = None  # a fresh connection next time
                silent = []
            self.on_check(self._store, silent, now - last_ok >= self.timeout_s)

    def _beat_and_read(self, now: float) -> list[int]:
        if self._store is None:
            # Each operation waits at most one beat: a store behind a cut link must not stall the watch.
            self._store = dist.PrefixStore(self.prefix, self.connect(self.interval))
        self._store.add(f"beat/{self.me}", 1)
        with self._lock:
            members = list(self._members)
        silent = []
        for member in members:
            if member == self.me:
                continue
            count = self._store.add(f"beat/{member}", 0)  # adding 0 reads a counter
            with self._lock:
                before = self._seen.get(member)
                if before is None or before[0] != count:
                    self._seen[member] = (count, now)
                elif now - before[1] >= self.timeout_s:
                    silent.append(member)
        return silent


def store_client(addr: str, port: int) -> Callable[[float], object]:
    """A function that opens one more client connection to the job's TCP store, with a timeout."""

    def connect(timeout_s: float):
        return dist.TCPStore(
            addr, port, is_master=False, timeout=timedelta(seconds=timeout_s), wait_for_workers=False
        )

    return connect
