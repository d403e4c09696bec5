"""Log service: real `docker logs` streams (a lab laptop over SSH, and this machine for connection local)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
from hetero_tui.services.inventory import Inventory
from hetero_tui.services.logbuffer import LogBuffer, LogLine, compile_filter
from hetero_tui.services.logfeed import LogFeed
from hetero_tui.services.logs import HostConnection, LogStream, rank_containers
from hetero_tui.services.logtext import readable

# Prints a line naming its own start, then ticks: after a restart a new "boot" line must arrive.
TICKER = 'echo "boot $(date +%s%N)"; i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.2; done'


def _wait_for(condition, timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Collector:
    def __init__(self):
        self.lines: list[LogLine] = []
        self.states: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def line(self, line: LogLine) -> None:
        with self.lock:
            self.lines.append(line)

    def state(self, state: str, why: str) -> None:
        self.states.append((state, why))

    def texts(self) -> list[str]:
        with self.lock:
            return [line.text for line in self.lines]


@pytest.mark.lab
def test_stream_over_ssh_waits_for_the_container_and_survives_a_restart(lab, base_image):
    lab.load_image("lap3", base_image)
    name = "hetero-rank-93"
    lab.docker("lap3", "rm", "-f", name)
    inventory = Inventory.load(lab.inventory)
    conn = HostConnection.from_vars("lap3", inventory.host_vars("lap3"))
    assert not conn.local and conn.address == "10.77.0.13"
    got = Collector()
    stream = LogStream(conn, 93, got.line, on_state=got.state, backoff=(0.2, 1.0)).start()
    try:
        # no container yet: the stream says why and keeps trying
        _wait_for(
            lambda: any(s == "waiting" and "No such container" in why for s, why in got.states), what="wait"
        )
        lab.docker(
            "lap3",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            base_image,
            "sh",
            "-c",
            TICKER,
            check=True,
        )
        _wait_for(lambda: "tick 5" in got.texts(), what="first lines")
        assert stream.state == "streaming"
        assert {(line.rank, line.host) for line in got.lines} == {(93, "lap3")}

        # rank_containers finds it by asking the laptops' Docker over SSH
        places = rank_containers(inventory)
        assert places[93].host == "lap3" and places[93].container == name

        connects = stream.connects
        lab.docker("lap3", "restart", "--time", "1", name, check=True)

        def ticking_again() -> bool:
            texts = got.texts()
            boots = [i for i, text in enumerate(texts) if text.startswith("boot ")]
            return len(boots) == 2 and "tick 3" in texts[boots[1] :]

        _wait_for(ticking_again, what="the restarted container's lines")
        assert stream.connects > connects
        with got.lock:
            stamps = [(line.ts, line.text) for line in got.lines]
        assert len(stamps) == len(set(stamps))  # nothing delivered twice across the reconnect
    finally:
        stream.stop()
        lab.docker("lap3", "rm", "-f", name)
    assert stream.state == "stopped"


@pytest.mark.docker
def test_stream_of_a_local_host_runs_docker_here(host_docker, base_image):
    name = "hetero-tui-logtest"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(["docker", "run", "-d", "--name", name, base_image, "sh", "-c", TICKER], check=True)
    conn = HostConnection.from_vars("localhost", {"ansible_connection": "local"})
    buffer = LogBuffer(maxlen=1000)
    stream = LogStream(conn, 0, buffer.append, container=name).start()
    try:
        _wait_for(lambda: any(line.text == "tick 3" for line in buffer.lines()), what="local lines")
    finally:
        stream.stop()
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    first = buffer.lines()[0]
    assert first.text.startswith("boot ") and first.ts.endswith("Z") and first.host == "localhost"


@pytest.mark.docker
def test_a_real_container_that_exits_is_marked_finished_or_failed(host_docker, base_image):
    """Docker settles the container's state before it ends the log stream: inspect reads the outcome."""
    for code, state, marker in (
        (0, "finished", "finished (exit 0)"),
        (3, "failed", "failed (exit 3): bye 3"),
    ):
        name = f"hetero-tui-endtest-{code}"
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        script = f"echo hello; sleep 2; echo bye {code}; exit {code}"  # still running when the stream starts
        subprocess.run(["docker", "run", "-d", "--name", name, base_image, "sh", "-c", script], check=True)
        feed = LogFeed(100)
        conn = HostConnection.from_vars("localhost", {"ansible_connection": "local"})
        stream = LogStream(
            conn,
            0,
            feed.receive,
            container=name,
            on_state=lambda s, why, feed=feed: feed._stream_state(0, s, why),
        )
        feed.streams[0] = stream
        stream.start()
        try:
            _wait_for(lambda stream=stream, state=state: stream.state == state, 30, f"{name} {state}")
        finally:
            feed.stop()
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        texts = [line.text for line in feed.buffer.lines()]
        assert texts == ["hello", f"bye {code}", f"── {marker} ──"], texts


@pytest.mark.docker
def test_a_real_container_docker_restarts_reconnects_then_fails_for_good(host_docker, base_image):
    """on-failure:1, as the trainer role's policy: the first exit is restarted (reconnecting), the second is
    the end (failed, with its code and last line)."""
    name = "hetero-tui-endtest-restart"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    script = "echo up; sleep 2; echo down; exit 1"
    run = ["docker", "run", "-d", "--restart", "on-failure:1", "--name", name, base_image, "sh", "-c", script]
    subprocess.run(run, check=True)
    feed = LogFeed(100)
    conn = HostConnection.from_vars("localhost", {"ansible_connection": "local"})
    stream = LogStream(
        conn, 0, feed.receive, container=name, on_state=lambda s, why: feed._stream_state(0, s, why),
        backoff=(0.2, 1.0),
    )  # fmt: skip
    feed.streams[0] = stream
    stream.start()
    try:
        _wait_for(lambda: stream.state == "failed", 60, "the second exit")
    finally:
        feed.stop()
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    markers = [line.text for line in feed.buffer.lines() if line.marker]
    assert len(markers) == 3, markers
    assert markers[0].startswith("── log stream ended: ") and markers[0].endswith("; reconnecting ──")
    assert markers[1] == "── log stream back, container restarts: 1 ──"
    assert markers[2] == "── failed (exit 1): down ──"


def test_ssh_command_uses_the_inventory_access_and_keeps_host_key_checking():
    conn = HostConnection.from_vars(
        "laptop",
        {
            "ansible_host": "192.168.1.20",
            "ansible_user": "bob",
            "ansible_port": 2222,
            "ansible_ssh_private_key_file": "/keys/id",
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/kh",
        },
    )
    argv = conn.argv(["docker", "logs", "--follow", "hetero-rank-1"])
    assert argv[0] == "ssh" and argv[-2:] == ["bob@192.168.1.20", "docker logs --follow hetero-rank-1"]
    assert argv[argv.index("-p") : argv.index("-p") + 2] == ["-p", "2222"]
    assert "/keys/id" in argv and "UserKnownHostsFile=/kh" in argv
    assert not any("StrictHostKeyChecking=no" in arg for arg in argv)


def test_rank_containers_from_launch_facts():
    facts = {
        "desktop": {
            "hetero_host_ranks": [{"rank": 0, "local_rank": 0, "gpu": 0}, {"rank": 1, "local_rank": 1}]
        },
        "laptop": {"hetero_host_ranks": [{"rank": 2, "local_rank": 0, "gpu": None}]},
    }
    places = rank_containers(None, facts)
    assert [(p.rank, p.host, p.container) for p in places.values()] == [
        (0, "desktop", "hetero-rank-0"),
        (1, "desktop", "hetero-rank-1"),
        (2, "laptop", "hetero-rank-2"),
    ]


def _line(rank: int, n: int, text: str = "") -> LogLine:
    return LogLine(rank, f"2026-11-21T21:00:{n:02d}.5Z", text or f"rank {rank} line {n}", "h")


def test_buffer_merges_ranks_in_arrival_order_and_stays_bounded():
    buffer = LogBuffer(maxlen=10)
    for n in range(30):
        buffer.append(_line(n % 3, n))
    assert len(buffer) == 10 and buffer.appended == 30
    assert [line.text for line in buffer.lines()][0] == "rank 2 line 20"
    assert buffer.ranks == [0, 1, 2]
    assert [line.text for line in buffer.lines(ranks=[1])] == [
        "rank 1 line 22",
        "rank 1 line 25",
        "rank 1 line 28",
    ]
    seen = buffer.appended
    buffer.append(_line(0, 31))
    assert buffer.new_since(seen) == 1


def test_buffer_filter_and_save(tmp_path):
    buffer = LogBuffer()
    buffer.append(_line(0, 1, '{"event": "step", "loss": 2.1}'))
    buffer.append(_line(1, 2, "RuntimeError: Connection reset by peer"))
    buffer.append(_line(1, 3, "rank 1: step 3/30"))
    assert [line.text for line in buffer.lines(pattern=r"Error|reset")] == [
        "RuntimeError: Connection reset by peer"
    ]
    assert [line.rank for line in buffer.lines(ranks=[1], pattern=r"step \d+/")] == [1]
    written = buffer.save(tmp_path / "out.log", pattern="step")
    assert written == 2
    assert (tmp_path / "out.log").read_text().splitlines() == [
        '2026-11-21T21:00:01.5Z rank 0 {"event": "step", "loss": 2.1}',
        "2026-11-21T21:00:03.5Z rank 1 rank 1: step 3/30",
    ]


def test_an_invalid_filter_says_so_in_one_line():
    with pytest.raises(ValueError, match=r"^filter: not a valid regular expression"):
        compile_filter("step (")
    assert compile_filter("") is None


# ---- the trainer's events as people read them ------------------------------------------------------------
def event(name: str, **fields) -> str:
    return json.dumps({"event": name, "rank": 0, **fields})


def test_a_step_event_reads_as_one_line_with_its_numbers():
    step = event(
        "step", step=120, epoch=1, loss=1.812345, share=95, samples_per_s=452.38, global_samples_per_s=609.5,
        compute_s=0.1449, comm_s=0.0651, step_s=0.21, memory_mb=812.5, lr=0.01, predicted_samples_per_s=600.0,
    )  # fmt: skip
    assert readable(step) == "step 120 · loss 1.81 · share 95 · 452 samples/s · comm 31%"


def test_every_trainer_event_has_a_short_readable_form():
    assert readable(event("plan", step=0, shares=[64, 64], global_batch=128, reason="profile")) == (
        "plan: shares 64/64 (profile)"
    )
    changed = event("plan", step=40, shares=[95, 33], previous=[64, 64], reason="dynamic", global_batch=128)
    assert readable(changed) == "plan: shares 64/64 -> 95/33 (dynamic) · step 40"
    reason = "rank 2 (lap3) leaves: its link costs 0.300 s a step, its compute saves 0.010 s"
    assert readable(event("left_out", step=40, hostname="lap3", reason=reason, exit_code=0)) == reason
    assert readable(event("done", step=300, epoch=2, shares=[64, 64], experiment="/x")) == "done at step 300"
    assert readable(event("all_reduce", megabytes=11.17, seconds=0.0342, mbit_per_s=2612.3)) == (
        "all-reduce of 11.2 MB: 0.0342 s (2612 Mbit/s)"
    )
    assert (
        readable(event("links", mbit_per_s=[940.2, 940.2, 95.14])) == "links to rank 0: 940/940/95.1 Mbit/s"
    )
    assert readable(event("sync", step=300, mode="powersgd", sent_fraction=0.02512)) == (
        "sync: powersgd · sent 2.51% of the gradient"
    )
    assert readable(event("snapshot", step=40, epoch=1, path="/e/snapshots/step_40.pt")) == (
        "snapshot at step 40 (epoch 1): /e/snapshots/step_40.pt"
    )
    world = event("world", step=40, generation=1, ranks=[0, 1], left_out={"2": "slow link"}, shares=[90, 38],
                  predicted_samples_per_s=700.4, world_predicted_samples_per_s=610.0)  # fmt: skip
    assert readable(world) == "world 1: ranks 0,1 go on without 2 · step 40 · 700 samples/s predicted"
    lost = event("peer_lost", step=57, snapshot_step=None, error="Connection reset by peer", exit_code=3)
    assert readable(lost) == "peer lost at step 57 · no snapshot · exit 3 · Connection reset by peer"
    two_lines = event(
        "peer_lost", step=5, snapshot_step=4, error="gloo: timeout\nwaiting for rank 2", exit_code=3
    )
    assert readable(two_lines).endswith("exit 3 · gloo: timeout | waiting for rank 2")  # still one row
    for name in ("hardware", "forecast", "resume", "profile", "precision"):  # never the raw JSON
        assert not readable(event(name, step=1, path="/p", summary="lap1: no GPU")).startswith("{")


def test_an_unknown_event_is_compact_and_other_lines_stay_as_they_are():
    assert readable(event("warmup", step=3, took_s=0.123456, hosts=["a", "b"], note="two words")) == (
        'warmup: step=3 took_s=0.123 hosts=["a","b"] note="two words"'
    )
    assert readable(event("step", step=5, loss="high", share=None)) == "step 5 · loss high · share None"
    for text in ("hetero-train: rank 0/3 lap1: no GPU", '{"no": "event"}', "{not json", ""):
        assert readable(text) == text


# ---- how a stream ends: a stand-in `docker` on PATH (the real one: the docker test below) -------------
FAKE_DOCKER = """#!/bin/sh
# docker logs: the container's lines (all of them each time; the stream skips those it has seen)
# docker inspect --format F: "<status> <exit code>", or the restart count when F asks for it
case "$1" in
  logs) cat "$FAKE_DOCKER/logs" ;;
  inspect) case "$3" in *RestartCount*) echo 0 ;; *) cat "$FAKE_DOCKER/state" ;; esac ;;
esac
"""


class LocalHosts:
    """The inventory as LogFeed.follow reads it: every host is this machine."""

    def host_vars(self, name: str) -> dict:
        return {"ansible_connection": "local"}


def follow_a_rank_that_ends(tmp_path, monkeypatch, state: str, lines: list[str]) -> LogFeed:
    (tmp_path / "docker").write_text(FAKE_DOCKER)
    (tmp_path / "docker").chmod(0o755)
    stamped = [f"2026-11-21T21:00:{n:02d}.5Z {text}\n" for n, text in enumerate(lines)]
    (tmp_path / "logs").write_text("".join(stamped))
    (tmp_path / "state").write_text(state + "\n")
    monkeypatch.setenv("FAKE_DOCKER", str(tmp_path))
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    feed = LogFeed(100)
    feed.follow(LocalHosts(), {"lap1": {"hetero_host_ranks": [{"rank": 0}]}})
    return feed


def test_a_stream_whose_container_exited_0_says_finished_and_stops_reconnecting(tmp_path, monkeypatch):
    feed = follow_a_rank_that_ends(tmp_path, monkeypatch, "exited 0", ["step 1", event("done", step=1)])
    try:
        _wait_for(lambda: feed.streams[0].state == "finished", 10, "the stream to see the end")
        time.sleep(1.2)  # two more looks for a new container (backoff 0.5 s, 1 s): nothing new to say
    finally:
        feed.stop()
    texts = [line.text for line in feed.buffer.lines()]
    assert texts == ["step 1", event("done", step=1), "── finished (exit 0) ──"]
    assert not any("reconnecting" in text for text in texts)
    assert feed.streams[0].connects >= 2  # it kept looking, quietly


def test_a_stream_whose_container_failed_shows_the_exit_code_and_last_line(tmp_path, monkeypatch):
    feed = follow_a_rank_that_ends(tmp_path, monkeypatch, "exited 3", ["step 1", "RuntimeError: boom"])
    try:
        _wait_for(lambda: feed.streams[0].state == "failed", 10, "the stream to see the failure")
    finally:
        feed.stop()
    assert [line.text for line in feed.buffer.lines() if line.marker] == [
        "── failed (exit 3): RuntimeError: boom ──"
    ]


def test_a_stream_whose_container_restarts_says_it_reconnects(tmp_path, monkeypatch):
    feed = follow_a_rank_that_ends(tmp_path, monkeypatch, "restarting 137", ["step 1"])
    try:
        _wait_for(lambda: any(line.marker for line in feed.buffer.lines()), 10, "the marker")
    finally:
        feed.stop()
    markers = [line.text for line in feed.buffer.lines() if line.marker]
    assert markers == [
        "── log stream ended: the container exited (code 137), Docker restarts it; reconnecting ──"
    ]
