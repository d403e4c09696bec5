"""Rank container logs: tail `docker logs -f --timestamps hetero-rank-<N>` on its host, line by line (the
lines go to the bounded LogBuffer of logbuffer.py).

A host is reached the way Ansible reaches it (inventory ssh vars: ansible_host, ansible_user, ansible_port,
ansible_ssh_private_key_file, ansible_ssh_common_args), with host-key checking left on; a host with
`ansible_connection: local` runs docker right here. A stream reconnects by itself, with backoff, when the
container restarts or the connection drops, and resumes from the last timestamp it saw (no duplicates).
When a stream ends, `docker inspect` says why: the container finished, failed, is restarting, is gone.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Self

from .logbuffer import LogLine

CONTAINER_PREFIX = "hetero-rank-"
# docker logs --timestamps: "2026-11-21T21:40:00.123456789Z <text>" (RFC3339Nano, trailing zeros trimmed)
_STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?(.*)$")


def container_name(rank: int) -> str:
    return f"{CONTAINER_PREFIX}{rank}"


@dataclass(frozen=True)
class HostConnection:
    """How to run a command on an inventory host (the same access Ansible uses)."""

    name: str
    address: str
    user: str | None = None
    port: int | None = None
    key_file: str | None = None
    ssh_common_args: str = ""
    local: bool = False

    @classmethod
    def from_vars(cls, name: str, hostvars: Mapping) -> HostConnection:
        """From merged host variables (Inventory.host_vars(name))."""
        port = hostvars.get("ansible_port") or hostvars.get("ansible_ssh_port")
        return cls(
            name=name,
            address=str(hostvars.get("ansible_host") or name),
            user=hostvars.get("ansible_user") or hostvars.get("ansible_ssh_user"),
            port=int(port) if port else None,
            key_file=hostvars.get("ansible_ssh_private_key_file") or hostvars.get("ansible_private_key_file"),
            ssh_common_args=str(hostvars.get("ansible_ssh_common_args") or ""),
            local=hostvars.get("ansible_connection") == "local",
        )

    def argv(self, command: list[str]) -> list[str]:
        """The local argv that runs `command` on this host."""
        if self.local:
            return list(command)
        ssh = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        # A dead link (laptop asleep, cable out) ends the stream within ~15 s instead of hanging forever.
        ssh += ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if self.port:
            ssh += ["-p", str(self.port)]
        if self.key_file:
            ssh += ["-i", str(self.key_file)]
        ssh += shlex.split(self.ssh_common_args)
        ssh.append(f"{self.user}@{self.address}" if self.user else self.address)
        ssh.append(shlex.join(command))
        return ssh

    def run(self, command: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(command), capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class ContainerEnd:
    """What a rank container was when its log stream ended (`docker inspect`)."""

    status: str  # Docker's State.Status (running, restarting, exited, dead...); "gone": none; "": unknown
    exit_code: int | None = None

    @property
    def exited(self) -> bool:
        """It stopped for good: Docker is not restarting it (a restart policy would show "restarting")."""
        return self.status in ("exited", "dead") and self.exit_code is not None

    @classmethod
    def parse(cls, returncode: int, output: str) -> ContainerEnd:
        """From `docker inspect --format '{{.State.Status}} {{.State.ExitCode}}'` (its code and output)."""
        words = output.split()
        if returncode != 0:
            return cls("gone" if "no such" in output.lower() else "")
        if len(words) == 2 and words[1].lstrip("-").isdigit():
            return cls(words[0], int(words[1]))
        return cls("")


def _ts_key(ts: str) -> tuple[str, str]:
    """Sortable form of a docker timestamp (its fraction has trailing zeros trimmed)."""
    whole, _, fraction = ts.rstrip("Z").partition(".")
    return whole, fraction.ljust(9, "0")


class CommandLoop:
    """A thread that runs commands on a host until stop(): what log streams and host sampling share."""

    def __init__(self, conn: HostConnection) -> None:
        self.conn = conn
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    @property
    def thread_name(self) -> str:
        return f"loop-{self.conn.name}"

    def start(self) -> Self:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        proc = self._proc
        if proc and proc.poll() is None:
            proc.terminate()
        if self._thread:
            self._thread.join(timeout)

    def _open(self, command: list[str]) -> subprocess.Popen:
        """Start `command` on the host, its stdout and stderr one text stream read line by line."""
        self._proc = subprocess.Popen(
            self.conn.argv(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # the trainer's progress goes to stderr: keep both, in order
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
        )
        return self._proc

    def _loop(self) -> None:
        raise NotImplementedError


class LogStream(CommandLoop):
    """Follows one rank container's log in a thread; lines go to `on_line`, state changes to `on_state`.

    States: "connecting", "streaming", "waiting" (stream ended; retrying after a backoff), "finished" and
    "failed" (the container exited, with code 0 or another; `end` holds the code), "stopped". A finished or
    failed stream keeps looking, quietly, for a new container of that name (the next launch). The text of
    `on_state`'s second argument says why (e.g. docker's "No such container")."""

    def __init__(
        self,
        conn: HostConnection,
        rank: int,
        on_line: Callable[[LogLine], None],
        *,
        container: str | None = None,
        on_state: Callable[[str, str], None] | None = None,
        tail: int = 500,
        backoff: tuple[float, float] = (0.5, 10.0),
    ):
        super().__init__(conn)
        self.rank = rank
        self.container = container or container_name(rank)
        self.on_line = on_line
        self.on_state = on_state
        self.tail = tail
        self.backoff = backoff
        self.state = "stopped"
        self.previous_state = "stopped"  # the state before the newest one: tells "ended" from "never began"
        self.connects = 0  # how many times docker logs was started
        self.streamed = 0  # how many of those delivered lines (more than one: the stream came back)
        # the container's restart count, read each time the stream comes back
        self.restarts: int | None = None
        self.last_ts: str | None = None
        self.last_text: str | None = None  # the last line the container wrote (a failed rank's reason)
        self.end: ContainerEnd | None = None  # what the container was when the stream last ended

    @property
    def thread_name(self) -> str:
        return f"log-{self.container}"

    def _set_state(self, state: str, why: str = "") -> None:
        self.previous_state, self.state = self.state, state
        if self.on_state:
            self.on_state(state, why)

    def _command(self) -> list[str]:
        command = ["docker", "logs", "--follow", "--timestamps"]
        # After a reconnect, resume where we were (lines at that very instant are filtered out below).
        command += ["--since", self.last_ts] if self.last_ts else ["--tail", str(self.tail)]
        return [*command, self.container]

    def _loop(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            ended = self.state in ("finished", "failed")  # then only a new container changes the state
            if not ended:
                self._set_state("connecting")
            got_lines, why = self._follow_once()
            if self._stop.is_set():
                break
            delay = self.backoff[0] if got_lines else min(delay * 2, self.backoff[1])
            if got_lines:  # it was streaming: did the container finish, fail, or is it coming back?
                self.end = self._inspect_end()
                if self.end.exited:
                    self._set_state("finished" if self.end.exit_code == 0 else "failed", why)
                else:
                    self._set_state("waiting", why)
            elif not ended:
                self._set_state("waiting", why)
            self._stop.wait(delay)
        self._set_state("stopped")

    def _inspect(self, fmt: str) -> tuple[int, str]:
        """`docker inspect --format fmt` of the container: (its exit code, its output); (-1, "") when the
        host could not be asked."""
        try:
            done = self.conn.run(["docker", "inspect", "--format", fmt, self.container], 20)
        except (OSError, subprocess.TimeoutExpired):
            return -1, ""
        return done.returncode, (done.stdout + done.stderr).strip()

    def _inspect_end(self) -> ContainerEnd:
        """What the container is now that its stream ended. Docker settles the state (exited with its code,
        or restarting) before it ends the log stream, so this reads the outcome, not a moment before it."""
        code, output = self._inspect("{{.State.Status}} {{.State.ExitCode}}")
        return ContainerEnd.parse(code, output) if code >= 0 else ContainerEnd("")

    def _restart_note(self) -> str:
        """Why the stream came back: Docker's restart count of the container (one short command)."""
        code, count = self._inspect("{{.RestartCount}}")
        if code != 0 or not count.isdigit():
            return ""
        self.restarts = int(count)
        return f"container restarts: {count}"

    def _follow_once(self) -> tuple[bool, str]:
        """Run docker logs until it ends; (did it deliver any line, the last non-log message)."""
        got, why = False, "stream ended"
        try:
            self._open(self._command())
        except OSError as err:
            return False, str(err)
        self.connects += 1
        streaming = False
        last_key = _ts_key(self.last_ts) if self.last_ts else None
        for raw in self._proc.stdout:
            match = _STAMPED.match(raw.rstrip("\n"))
            if not match:  # docker's or ssh's own message, not a log line
                why = raw.strip() or why
                continue
            ts, text = match.groups()
            key = _ts_key(ts)
            if last_key is not None and key <= last_key:
                continue  # already delivered before the reconnect
            if not streaming:
                streaming = True
                self.streamed += 1
                self._set_state("streaming", self._restart_note() if self.streamed > 1 else "")
            last_key, self.last_ts, self.last_text, got = key, ts, text, True
            self.on_line(LogLine(self.rank, ts, text, self.conn.name))
        self._proc.wait()
        return got, why


@dataclass(frozen=True)
class RankPlace:
    rank: int
    host: str
    container: str


def rank_containers(inventory, facts: Mapping[str, Mapping] | None = None) -> dict[int, RankPlace]:
    """Which rank runs where. From launch/preflight facts ({host: {"hetero_host_ranks": [...]}}) when given,
    else by asking each host's Docker for its hetero-rank-<N> containers (hosts that do not answer are left
    out)."""
    places: dict[int, RankPlace] = {}
    if facts:
        for host, host_facts in facts.items():
            for entry in host_facts.get("hetero_host_ranks") or []:
                rank = int(entry["rank"])
                places[rank] = RankPlace(rank, host, container_name(rank))
        return dict(sorted(places.items()))

    def probe(name: str) -> list[RankPlace]:
        conn = HostConnection.from_vars(name, inventory.host_vars(name))
        command = ["docker", "ps", "--all", "--filter", f"name={CONTAINER_PREFIX}", "--format", "{{.Names}}"]
        try:
            done = conn.run(command, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return []
        found = []
        for container in done.stdout.split() if done.returncode == 0 else []:
            if re.fullmatch(rf"{CONTAINER_PREFIX}\d+", container):
                found.append(RankPlace(int(container[len(CONTAINER_PREFIX) :]), name, container))
        return found

    names = [host.name for host in inventory.hosts]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        for found in pool.map(probe, names):
            for place in found:
                places[place.rank] = place
    return dict(sorted(places.items()))
