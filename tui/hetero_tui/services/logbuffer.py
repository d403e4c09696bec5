"""The log lines of every rank, kept once: `LogLine`, the bounded `LogBuffer` the streams append to and the
view reads, the user's filter (`compile_filter`) and saving lines as the containers wrote them."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path


@dataclass(frozen=True)
class LogLine:
    rank: int
    ts: str  # docker's timestamp, RFC3339Nano UTC
    text: str
    host: str = ""
    marker: bool = False  # written by the TUI itself (a stream ended, came back), not by the container


class LogBuffer:
    """The merged log of all ranks, in arrival order, bounded to `maxlen` lines (oldest dropped): the one
    place the TUI keeps log lines.

    Thread-safe: streams append from their threads, the UI reads. `appended` counts every line ever added;
    line number `seq` (0, 1, ...) names a line for as long as it is kept, so a view keeps only numbers."""

    def __init__(self, maxlen: int = 20_000):
        self._lines: deque[LogLine] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.appended = 0

    def append(self, line: LogLine) -> None:
        with self._lock:
            self._lines.append(line)
            self.appended += 1

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def first_seq(self) -> int:
        """The number of the oldest line still kept."""
        with self._lock:
            return self.appended - len(self._lines)

    def since(self, seq: int) -> tuple[int, list[LogLine]]:
        """(the number of the first line returned, every kept line from `seq` on)."""
        with self._lock:
            start = max(seq, self.appended - len(self._lines))
            newest_first = list(islice(reversed(self._lines), max(0, self.appended - start)))
        return start, newest_first[::-1]

    def line(self, seq: int) -> LogLine | None:
        """Line number `seq`; None once it was dropped (or before it arrived)."""
        with self._lock:
            index = seq - (self.appended - len(self._lines))
            return self._lines[index] if 0 <= index < len(self._lines) else None

    @property
    def ranks(self) -> list[int]:
        with self._lock:
            return sorted({line.rank for line in self._lines})

    def lines(
        self, ranks: Iterable[int] | None = None, pattern: str | re.Pattern | None = None
    ) -> list[LogLine]:
        """The kept lines of `ranks` (all when None) whose text matches `pattern` (a regex; None: all)."""
        wanted = set(ranks) if ranks is not None else None
        regex = compile_filter(pattern) if isinstance(pattern, str) else pattern
        with self._lock:
            snapshot = list(self._lines)
        return [
            line
            for line in snapshot
            if (wanted is None or line.rank in wanted) and (regex is None or regex.search(line.text))
        ]

    def new_since(self, seen: int) -> int:
        """How many lines arrived after the view had seen `seen` (a past value of `appended`)."""
        return self.appended - seen

    def save(self, path: Path, ranks: Iterable[int] | None = None, pattern: str | None = None) -> int:
        """Write the (filtered) lines as "<ts> rank <r> <text>"; returns how many."""
        return save_lines(path, self.lines(ranks, pattern))


def save_lines(path: Path, lines: Iterable[LogLine]) -> int:
    """Write lines as the containers wrote them (raw: what a bug report wants), one "<ts> rank <r> <text>"
    each; returns how many."""
    chosen = list(lines)
    Path(path).write_text("".join(f"{line.ts} rank {line.rank} {line.text}\n" for line in chosen))
    return len(chosen)


def compile_filter(pattern: str | None) -> re.Pattern | None:
    """The user's filter as a regex; raises ValueError with one line when it is not a valid one."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ValueError(f"filter: not a valid regular expression ({err})") from None
