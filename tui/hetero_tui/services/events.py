"""ansible-runner events as plain dataclasses, with secrets removed before anything leaves this module.

ansible-runner reports each playbook event as a dict (`event`, `event_data`, `stdout`, ...). The TUI
needs: a play started, a task started, a host started a task, a host's result for it, the run's end.
`translate()` maps one runner event to those (an empty list for events the TUI does not show), and
`Output` carries the raw stdout text of every event for the "raw output" view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STATUSES = ("ok", "changed", "failed", "unreachable", "skipped")
CENSORED = "<hidden>"
# Result keys whose values never reach the screen: become/SSH passwords, tokens, keys.
_SECRET_KEY = re.compile(r"pass(word|wd)?$|secret|token|private_key$|_pass$", re.IGNORECASE)


@dataclass(frozen=True)
class PlayStarted:
    play: str
    play_id: str  # ansible's play uuid: two plays may share a name


@dataclass(frozen=True)
class TaskStarted:
    play_id: str
    task: str
    task_id: str


@dataclass(frozen=True)
class HostStarted:
    """A host began a task (its cell shows "running" until the HostResult)."""

    play_id: str
    task: str
    task_id: str
    host: str


@dataclass(frozen=True)
class HostResult:
    """One host's outcome for one task: status is one of STATUSES; `result` is ansible's result dict
    (secrets removed; a `no_log` task's result is only {"censored": ...})."""

    play: str
    play_id: str
    task: str
    task_id: str
    host: str
    status: str
    duration: float | None  # seconds
    result: dict = field(default_factory=dict, compare=False)
    ignored: bool = False  # failed, but the task says ignore_errors

    @property
    def message(self) -> str:
        """The one line a cell's detail starts with."""
        res = self.result
        text = str(res.get("msg") or res.get("stderr") or res.get("reason") or "").strip()
        return text.splitlines()[0] if text else ""


@dataclass(frozen=True)
class RunFinished:
    """The end of a run: status is ansible-runner's (successful, failed, canceled, timeout, error);
    stats is {host: {"ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored"}}."""

    status: str
    rc: int | None
    stats: dict = field(default_factory=dict, compare=False)
    error: str = ""  # why the run could not start at all (status "error")


@dataclass(frozen=True)
class Output:
    """Raw stdout of one runner event (ANSI colours stripped), in order."""

    counter: int
    text: str


RunEvent = PlayStarted | TaskStarted | HostStarted | HostResult | RunFinished | Output

_RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def redact(value):
    """A copy of `value` with every secret-looking key's value replaced by CENSORED."""
    if isinstance(value, dict):
        return {
            key: CENSORED if isinstance(key, str) and _SECRET_KEY.search(key) and value[key] else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


# "db_password: hunter2" / "api_token=abc" in ansible's displayed output
_SECRET_LINE = re.compile(
    r"(?P<key>[\w-]*(?:pass(?:word|wd)?|secret|token|private_key)[\w-]*['\"]?\s*[:=]\s*)(?P<value>[^\s,}]+)",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """Raw output with secret-looking `key: value` pairs hidden (a no_log result is already censored)."""
    return _SECRET_LINE.sub(lambda m: m.group("key") + CENSORED, text)


def stats_of(event: dict) -> dict:
    """{host: counts} from a playbook_on_stats event."""
    data = event.get("event_data") or {}
    hosts: dict[str, dict] = {}
    for key in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored"):
        for host, count in (data.get(key) or {}).items():
            hosts.setdefault(host, {})["unreachable" if key == "dark" else key] = count
    return hosts


def translate(event: dict) -> list[RunEvent]:
    """The TUI events for one ansible-runner event (often none, at most two: the event and its output)."""
    kind = event.get("event", "")
    data = event.get("event_data") or {}
    out: list[RunEvent] = []
    if kind == "playbook_on_play_start":
        out.append(PlayStarted(play=data.get("play", ""), play_id=data.get("play_uuid", "")))
    elif kind == "playbook_on_task_start":
        out.append(
            TaskStarted(
                play_id=data.get("play_uuid", ""),
                task=data.get("task", ""),
                task_id=data.get("task_uuid", ""),
            )
        )
    elif kind == "runner_on_start":
        out.append(
            HostStarted(
                play_id=data.get("play_uuid", ""),
                task=data.get("task", ""),
                task_id=data.get("task_uuid", ""),
                host=data.get("host", ""),
            )
        )
    elif kind in _RESULT_EVENTS:
        res = data.get("res") or {}
        status = _RESULT_EVENTS[kind]
        if status == "ok" and res.get("changed"):
            status = "changed"
        duration = data.get("duration")
        out.append(
            HostResult(
                play=data.get("play", ""),
                play_id=data.get("play_uuid", ""),
                task=data.get("task", ""),
                task_id=data.get("task_uuid", ""),
                host=data.get("host", ""),
                status=status,
                duration=float(duration) if duration is not None else None,
                result=redact(res),
                ignored=bool(data.get("ignore_errors")) and status == "failed",
            )
        )
    text = event.get("stdout")
    if text:
        out.append(Output(counter=int(event.get("counter") or 0), text=redact_text(strip_ansi(text))))
    return out
