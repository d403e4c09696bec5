"""Log service: real `docker logs` streams (a lab laptop over SSH, and this machine for connection local)."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from hetero_tui.services.inventory import Inventory
from hetero_tui.services.logs import (
    HostConnection,
    LogBuffer,
    LogLine,
    LogStream,
    compile_filter,
    rank_containers,
)

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
