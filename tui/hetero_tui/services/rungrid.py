"""The play → task × host grid of one run, fed by the events of events.py (live or from kept artifacts).

A live run's grid is written on the runner's thread while the UI thread reads it. So a list or dict a reader
may be iterating is replaced, never grown in place: a reader holding one has a consistent snapshot of it.
(`output` is only appended to, and read by slicing, which is atomic.)"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import HostResult, HostStarted, Output, PlayStarted, RunEvent, RunFinished, TaskStarted


@dataclass
class Cell:
    """One host's outcome for one task; status "running" until its result arrives."""

    status: str
    duration: float | None = None
    result: HostResult | None = None


@dataclass
class TaskRow:
    task: str
    task_id: str
    cells: dict[str, Cell] = field(default_factory=dict)  # host -> cell


@dataclass
class PlayBlock:
    play: str
    play_id: str
    tasks: list[TaskRow] = field(default_factory=list)


class RunGrid:
    """Everything a run has shown so far: plays in order, their tasks in order, one cell per host.

    `hosts` lists hosts in order of first appearance. `status` is "running" until RunFinished."""

    def __init__(self) -> None:
        self.plays: list[PlayBlock] = []
        self.hosts: list[str] = []
        self.status = "running"
        self.rc: int | None = None
        self.stats: dict = {}
        self.output: list[str] = []
        self._plays: dict[str, PlayBlock] = {}
        self._tasks: dict[str, TaskRow] = {}

    def apply(self, event: RunEvent) -> None:
        if isinstance(event, PlayStarted):
            self._play(event.play_id, event.play)
        elif isinstance(event, TaskStarted):
            self._task(event.play_id, "", event.task_id, event.task)
        elif isinstance(event, HostStarted):
            row = self._task(event.play_id, "", event.task_id, event.task)
            self._add_host(event.host)
            if event.host not in row.cells:
                row.cells = {**row.cells, event.host: Cell("running")}
        elif isinstance(event, HostResult):
            row = self._task(event.play_id, event.play, event.task_id, event.task)
            self._add_host(event.host)
            row.cells = {**row.cells, event.host: Cell(event.status, event.duration, event)}
        elif isinstance(event, RunFinished):
            self.status, self.rc, self.stats = event.status, event.rc, event.stats
        elif isinstance(event, Output):
            self.output.append(event.text)

    def _add_host(self, host: str) -> None:
        if host not in self.hosts:
            self.hosts = [*self.hosts, host]

    def _play(self, play_id: str, name: str) -> PlayBlock:
        if play_id not in self._plays:
            block = PlayBlock(name, play_id)
            self._plays[play_id] = block
            self.plays = [*self.plays, block]
        return self._plays[play_id]

    def _task(self, play_id: str, play: str, task_id: str, name: str) -> TaskRow:
        if task_id not in self._tasks:
            row = TaskRow(name, task_id)
            self._tasks[task_id] = row
            block = self._play(play_id, play)
            block.tasks = [*block.tasks, row]
        return self._tasks[task_id]

    # questions the screens ask ---------------------------------------------------------------------------
    def cell(self, task_id: str, host: str) -> Cell | None:
        row = self._tasks.get(task_id)
        return row.cells.get(host) if row else None

    def failed(self) -> list[HostResult]:
        """Every failed or unreachable result (ignored failures excluded), in order."""
        return [
            cell.result
            for block in self.plays
            for row in block.tasks
            for cell in row.cells.values()
            if cell.result and cell.status in ("failed", "unreachable") and not cell.result.ignored
        ]

    def counts(self) -> dict[str, int]:
        """How many cells have each status."""
        totals: dict[str, int] = {}
        for block in self.plays:
            for row in block.tasks:
                for cell in row.cells.values():
                    totals[cell.status] = totals.get(cell.status, 0) + 1
        return totals

    @property
    def raw_output(self) -> str:
        return "\n".join(text for text in self.output)
