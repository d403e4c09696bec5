"""A finished playbook run as data: what the synchronous runner call (runner.run_playbook) returns.

Read from ansible-runner's raw events, unredacted: tests and scripts check modules' results, which the
TUI's events (events.py) redact. Task names read as ansible-playbook prints them: "role : task".
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

# ansible-runner's per-host result events; a changed result is "ok" here, with `changed` set
_RESULT_PREFIX = "runner_on_"
_RESULT_STATUSES = ("ok", "skipped", "failed", "unreachable")
# the PLAY RECAP's counters, as ansible-runner's Runner.stats gives them ("dark" = unreachable)
_RECAP_KEYS = ("skipped", "ok", "dark", "failures", "ignored", "rescued", "processed", "changed")


class TaskResult(NamedTuple):
    play: str
    task: str  # "role : task" for a role's task
    host: str
    status: str  # ok, skipped, failed or unreachable
    changed: bool
    result: dict  # the module's result


@dataclass(frozen=True)
class PlaybookResult:
    status: str  # ansible-runner's: successful, failed, canceled, timeout, error
    rc: int | None  # ansible-playbook's exit code; None when it never ran
    stdout: str  # ansible-playbook's output (stderr included: it runs in a terminal)
    events: list[dict] = field(default_factory=list, repr=False)  # ansible-runner's, in order
    error: str = ""  # why the run could not start (status "error")

    @functools.cached_property
    def tasks(self) -> list[TaskResult]:
        """Every host's result of every task (loop items too), in order."""
        found = []
        for event in self.events:
            status = event.get("event", "").removeprefix(_RESULT_PREFIX)
            data = event.get("event_data") or {}
            if status in _RESULT_STATUSES and data.get("task"):
                res = data.get("res") or {}
                task = f"{data.get('role', '')} : {data['task']}".lstrip(" :")
                found.append(
                    TaskResult(
                        data.get("play", ""), task, data.get("host"), status, bool(res.get("changed")), res
                    )
                )
        return found

    @functools.cached_property
    def stats(self) -> dict:
        """The PLAY RECAP: {"changed": {host: n}, "failures": ..., "ok": ..., "skipped": ..., "dark": ...}."""
        for event in reversed(self.events):
            if event.get("event") == "playbook_on_stats":
                data = event.get("event_data") or {}
                return {key: data.get(key) or {} for key in _RECAP_KEYS}
        return {}

    @property
    def plays(self) -> list[str]:
        """The plays in which some task ran, in order."""
        return list(dict.fromkeys(t.play for t in self.tasks))

    @property
    def results(self) -> dict[tuple[str, str], dict]:
        """{(task, host): the module's result} (a loop's last item, then the task's own result)."""
        return {(t.task, t.host): t.result for t in self.tasks}

    def changed(self, host: str) -> int:
        return (self.stats.get("changed") or {}).get(host, 0)

    def failed(self, host: str) -> int:
        return (self.stats.get("failures") or {}).get(host, 0) + (self.stats.get("dark") or {}).get(host, 0)

    def statuses(self, task_prefix: str, host: str) -> list[str]:
        return [t.status for t in self.tasks if t.host == host and t.task.startswith(task_prefix)]

    def result(self, task_prefix: str, host: str) -> dict:
        """The result of the first task named task_prefix... on host (a loop's: its last)."""
        return next(
            res for (task, h), res in self.results.items() if h == host and task.startswith(task_prefix)
        )

    def changed_tasks(self, play_prefix: str = "") -> list[tuple[str, str]]:
        return [(t.task, t.host) for t in self.tasks if t.changed and t.play.startswith(play_prefix)]

    def failures(self) -> list[tuple[str, str]]:
        """(task, host) of every failed or unreachable task result, to say why a run failed."""
        return [(t.task, t.host) for t in self.tasks if t.status in ("failed", "unreachable")]

    def changed_per_play(self) -> dict[str, dict[str, int]]:
        """{play name: {host: changed tasks}}, the PLAY RECAP split by play."""
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for t in self.tasks:
            counts[t.play][t.host] += int(t.changed)
        return {play: dict(hosts) for play, hosts in counts.items()}

    def changed_in(self, play_prefix: str) -> dict[str, int]:
        """Changed tasks per host over the plays whose name starts with play_prefix."""
        total: dict[str, int] = defaultdict(int)
        for play, hosts in self.changed_per_play().items():
            if play.startswith(play_prefix):
                for host, n in hosts.items():
                    total[host] += n
        return dict(total)
