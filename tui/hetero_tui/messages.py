"""Every Textual message of hetero-tui, in one place.

Background workers (playbook runs, log streams) never touch widgets: they post one of these to the app, and
the screens that care handle it on the UI thread.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from hetero_tui.services.logbuffer import LogLine


class RunEventArrived(Message):
    """One ansible-runner event of a running action (already parsed by the services, and already applied to
    the run's grid). The run's end is the services' RunFinished event, carried by this message too."""

    def __init__(self, run_id: str, event: Any) -> None:
        super().__init__()
        self.run_id = run_id
        self.event = event


class LogLinesArrived(Message):
    """A batch of rank log lines (batched so thousands of lines/s cost a few messages/s)."""

    def __init__(self, lines: list[LogLine]) -> None:
        super().__init__()
        self.lines = lines


class LogStreamState(Message):
    """A rank's log stream connected, ended or is reconnecting. The state and the container's restart count
    stay on the stream (services LogFeed.streams); this only says which rank to look at again."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank


class MetricsUpdated(Message):
    """New trainer step records were folded into the metrics model."""


class HostStatsArrived(Message):
    """A host's CPU, memory and GPU figures were sampled (services HostStatsFeed.latest holds them)."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host


class HostStatesUpdated(Message):
    """Facts or Status results changed what the inventory screen knows about hosts."""


class InventoryChanged(Message):
    """The inventory file was saved (hosts or training settings changed)."""
