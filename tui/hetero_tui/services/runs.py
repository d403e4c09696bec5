"""The runs the app shows: live ones (a PlaybookRun feeding its grid) and past ones reopened from artifacts.

A live run has one grid, the PlaybookRun's own: the runner's thread applies each event to it before the app
hears of the event, so the app never applies events a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .history import PastRun, load_run
from .rungrid import RunGrid


@dataclass
class RunRecord:
    """A run the app shows: live (handle set while it runs) or reopened from artifacts."""

    name: str
    run_id: str
    grid: RunGrid = field(default_factory=RunGrid)
    handle: object | None = None  # runner.PlaybookRun
    cancelling: bool = False

    @classmethod
    def live(cls, name: str, handle) -> RunRecord:
        return cls(name, handle.ident, grid=handle.grid, handle=handle)

    @classmethod
    def past(cls, past: PastRun) -> RunRecord:
        return cls(f"{past.action} ({past.ident[:15]})", past.ident, grid=load_run(past.path))

    @property
    def running(self) -> bool:
        return self.handle is not None and self.grid.status == "running"


class Runs:
    """Every run of this session by id, and the current one (the last action started)."""

    def __init__(self) -> None:
        self.by_id: dict[str, RunRecord] = {}
        self.current: RunRecord | None = None

    def add(self, record: RunRecord, *, current: bool = False) -> RunRecord:
        self.by_id[record.run_id] = record
        if current:
            self.current = record
        return record

    def get(self, run_id: str) -> RunRecord | None:
        return self.by_id.get(run_id)

    def running(self) -> list[RunRecord]:
        return [run for run in self.by_id.values() if run.running]


def become_method_to_ask(inventory) -> str | None:
    """The become method (sudo, su...) of the first host that becomes root with no password in the
    inventory; None when no host needs one asked."""
    for host in inventory.hosts:
        hostvars = inventory.host_vars(host.name)
        become = str(hostvars.get("ansible_become", "")).lower() in ("true", "yes", "1")
        known = hostvars.get("ansible_become_password") or hostvars.get("ansible_become_pass")
        if become and not known:
            return str(hostvars.get("ansible_become_method") or "sudo")
    return None
