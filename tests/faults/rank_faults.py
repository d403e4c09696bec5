"""Running and breaking training in the fault lab: launch, read rank containers' records and state, kill a
rank, compare final weights."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import torch

from tests.ansible.playbook import ansible_playbook


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


REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = "/var/lib/hetero-cluster/experiments"
HANG_GUARD_S = 900  # generous upper bounds on waits, so a broken recovery fails instead of hanging


def playbook(inventory: Path, name: str, extra: dict) -> subprocess.CompletedProcess:
    """`ansible-playbook -i inventory playbooks/<name> -e <extra>` through the project's one runner."""
    return ansible_playbook(f"playbooks/{name}", inventory, "-e", json.dumps(extra), timeout=HANG_GUARD_S)


def final_weights(lab, laptop: str, experiment: str) -> dict:
    path = f"{EXPERIMENTS}/{experiment}/checkpoints/final.pt"
    data = lab.run(laptop, ["cat", path], check=True, input=b"").stdout  # bytes in, bytes out
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)["model"]


def relative_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    diff = torch.sqrt(sum(((a[k].double() - b[k].double()) ** 2).sum() for k in a))
    norm = torch.sqrt(sum((b[k].double() ** 2).sum() for k in b))
    return float(diff / norm)


def recomputed_per_resume(rank_events: list[dict]) -> list[int]:
    """For every resume: how many already-computed steps it recomputes (newest step logged before it minus
    the step it resumed from)."""
    newest, found = 0, []
    for event in rank_events:
        if event["event"] == "step":
            newest = max(newest, event["step"])
        elif event["event"] == "resume":
            found.append(newest - event["step"])
    return found


def link(laptop, up: bool) -> None:
    """Cut or restore a laptop's only cable: the machine's side of its veth pair."""
    subprocess.run(["ip", "link", "set", laptop.host_veth, "up" if up else "down"], check=True)


def stop_docker(lab, laptop) -> None:
    """Stop the laptop's Docker engine as `service docker stop` does (it stops the containers first)."""
    script = "start-stop-daemon --stop --pidfile /var/run/docker-ssd.pid --retry 60"
    lab.run(laptop.name, ["sh", "-c", script], check=True)


def start_docker(lab, laptop) -> None:
    from tests.lab.laptop import wait_dockerd
    from tests.lab.system import start_dockerd_like_init_script

    start_dockerd_like_init_script(lab.nsenter(laptop.name))
    wait_dockerd(lab.cfg, laptop)
