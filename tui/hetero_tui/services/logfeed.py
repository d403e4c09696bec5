"""Every rank's log, kept once: the streams that follow the rank containers, the one bounded buffer their
lines go to, and the batches handed on to the UI.

Lines arrive on the streams' threads (8,000 lines/s under load); `pump()`, run on a thread of its own, hands
them on in batches, at most 20 a second. A stream's state and its container's restart count stay on the
LogStream itself: `on_state` only says which rank changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from .logbuffer import LogBuffer, LogLine
from .logs import HostConnection, LogStream, rank_containers
from .logtext import readable


def utc_stamp() -> str:
    """Now, in the form docker logs --timestamps uses (so a marker sorts and saves like a log line)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def end_note(state: str, why: str, stream: LogStream) -> str:
    """The marked line for a stream that ended, from what its container is now (LogStream.end): finished;
    failed, with its exit code and last line; or coming back (restarting, running): only then reconnecting."""
    end = stream.end
    code = end.exit_code if end else None
    if state == "finished":
        return f"finished (exit {code})"
    if state == "failed":
        last = readable(stream.last_text) if stream.last_text else ""
        return f"failed (exit {code})" + (f": {last}" if last else "")
    reason = "" if why in ("", "stream ended") else f" ({why})"
    status = end.status if end else ""
    if status == "restarting":
        return f"log stream ended: the container exited (code {code}), Docker restarts it; reconnecting"
    if status == "gone":
        return f"log stream ended{reason}: the container was removed"
    if status:  # running (again), paused, created: the stream ended under it (a dropped connection)
        return f"log stream ended{reason}: the container is {status}; reconnecting"
    return f"log stream ended{reason}: the container's state could not be read; reconnecting"


class LogFeed:
    def __init__(
        self,
        max_lines: int = 20_000,
        *,
        on_batch: Callable[[list[LogLine]], None] | None = None,
        on_state: Callable[[int], None] | None = None,
    ) -> None:
        self.buffer = LogBuffer(max_lines)
        self.streams: dict[int, LogStream] = {}  # rank -> the stream following its container
        self.on_batch = on_batch  # called on the pump's thread
        self.on_state = on_state  # called on a stream's thread with the rank whose stream changed state
        self._pending: list[LogLine] = []
        self._pending_lock = threading.Lock()
        self._pending_event = threading.Event()
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def restarts(self, rank: int) -> int | None:
        """The restart count of rank's container, read when its stream last came back."""
        stream = self.streams.get(rank)
        return stream.restarts if stream else None

    def by_rank(self) -> list[tuple[int, LogStream]]:
        return sorted(dict(self.streams).items())  # a copy: follow() may add a stream meanwhile

    # ---- lines ---------------------------------------------------------------------------------------
    def receive(self, line: LogLine) -> None:
        """Called on a stream's thread for every line: keep it, and queue it for the pump."""
        self.buffer.append(line)
        with self._pending_lock:
            self._pending.append(line)
            first = len(self._pending) == 1
        if first:  # waking the pump once per batch, not once per line
            self._pending_event.set()

    def pump(self) -> None:
        """Blocking, on a thread of its own until stop(): queued lines go to on_batch in batches."""
        while not self._stopping.is_set():
            self._pending_event.wait()
            self._stopping.wait(0.05)  # let a burst gather into one batch
            with self._pending_lock:
                batch, self._pending = self._pending, []
                self._pending_event.clear()
            if batch and self.on_batch:
                self.on_batch(batch)

    # ---- streams -------------------------------------------------------------------------------------
    def follow(self, inventory, facts: Mapping[str, Mapping] | None = None) -> int:
        """Follow every rank container not followed yet (placed by facts, else by asking each Docker); blocks
        while it asks. Returns how many rank containers were found."""
        places = rank_containers(inventory, facts)
        for rank, place in places.items():
            if rank in self.streams:
                continue
            conn = HostConnection.from_vars(place.host, inventory.host_vars(place.host))
            stream = LogStream(
                conn,
                rank,
                self.receive,
                container=place.container,
                on_state=lambda state, why, rank=rank: self._stream_state(rank, state, why),
            )
            self.streams[rank] = stream
            stream.start()
        return len(places)

    def _stream_state(self, rank: int, state: str, why: str) -> None:
        """On a stream's thread: when a stream ends or comes back, say so in the log itself. The marker goes
        through the same queue as the lines, so it lands between the old and the new ones."""
        stream = self.streams[rank]
        note = None
        if state in ("finished", "failed", "waiting") and stream.previous_state == "streaming":
            note = end_note(state, why, stream)
        elif state == "streaming" and stream.streamed > 1:
            note = f"log stream back{f', {why}' if why else ''}"
        if note:
            self.receive(LogLine(rank, utc_stamp(), f"── {note} ──", stream.conn.name, marker=True))
        if self.on_state:
            self.on_state(rank)

    def stop(self, timeout: float = 1) -> None:
        self._stopping.set()
        self._pending_event.set()
        for stream in list(self.streams.values()):
            stream.stop(timeout=timeout)
