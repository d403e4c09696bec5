"""Reading and breaking rank containers inside lab laptops: their step records, their state, a kill."""

from __future__ import annotations

import json
import os
import signal
import time


def events(lab, laptop: str, container: str, kind: str | None = None) -> list[dict]:
    """The structured JSON lines a rank printed, over all restarts of its container (docker keeps them)."""
    out = lab.docker(laptop, "logs", container).stdout
    found = []
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if kind is None or event.get("event") == kind:
                found.append(event)
    return found


def last_step(lab, laptop: str, container: str) -> int:
    steps = [e["step"] for e in events(lab, laptop, container, "step")]
    return max(steps, default=0)


def state(lab, laptop: str, container: str) -> dict:
    """{"status", "exit_code", "restarts"} of a container, or {} when it does not exist."""
    fmt = '{"status": "{{.State.Status}}", "exit_code": {{.State.ExitCode}}, "restarts": {{.RestartCount}}}'
    result = lab.docker(laptop, "inspect", "--format", fmt, container)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def crash(lab, laptop: str, container: str) -> None:
    """SIGKILL the rank's process, as the OOM killer or a segfault would. (`docker kill` would not do: Docker
    treats it as a manual stop and its restart policy then leaves the container down.)"""
    pid = lab.docker(laptop, "inspect", "--format", "{{.State.Pid}}", container, check=True).stdout.strip()
    assert pid not in ("", "0"), f"{container} on {laptop} is not running"
    os.kill(int(pid), signal.SIGKILL)  # laptops share the machine's PID namespace


def wait_until(what: str, predicate, limit_s: float, poll_s: float = 1.0):
    """Poll until predicate() is truthy; a hang guard (generous limit), never a speed requirement."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"gave up after {limit_s:g} s waiting for {what}")
