"""The log feed and the run grid alone (no Textual, no Docker): lines kept once and numbered, batches, stream
markers, and a grid a reader can hold while the runner's thread writes it."""

from __future__ import annotations

import threading

from hetero_tui.services.events import HostResult, HostStarted
from hetero_tui.services.logbuffer import LogBuffer, LogLine
from hetero_tui.services.logfeed import LogFeed
from hetero_tui.services.logs import ContainerEnd, HostConnection, LogStream
from hetero_tui.services.rungrid import RunGrid


def line(rank: int, text: str) -> LogLine:
    return LogLine(rank, "2026-11-21T12:00:00Z", text, f"lap{rank + 1}")


def test_the_buffer_numbers_its_lines_and_forgets_the_dropped_ones():
    buffer = LogBuffer(maxlen=3)
    for i in range(5):
        buffer.append(line(0, f"l{i}"))
    assert buffer.first_seq == 2 and len(buffer) == 3
    assert buffer.line(1) is None and buffer.line(2).text == "l2" and buffer.line(5) is None
    start, rows = buffer.since(0)  # asked from a dropped line: from the oldest kept
    assert start == 2 and [row.text for row in rows] == ["l2", "l3", "l4"]
    assert buffer.since(4)[1][0].text == "l4" and buffer.since(5) == (5, [])


def test_the_pump_hands_lines_on_in_batches_until_stopped():
    batches: list[list[LogLine]] = []
    got = threading.Event()
    feed = LogFeed(100, on_batch=lambda batch: (batches.append(batch), got.set()))
    pump = threading.Thread(target=feed.pump)
    pump.start()
    for i in range(50):
        feed.receive(line(i % 2, f"l{i}"))
    assert got.wait(5)
    feed.stop()
    pump.join(5)
    assert not pump.is_alive()
    assert [row.text for batch in batches for row in batch] == [f"l{i}" for i in range(50)]
    assert len(batches) < 50 and len(feed.buffer) == 50


def ended(
    feed: LogFeed, rank: int, state: str, end: ContainerEnd, last: str = "", why: str = ""
) -> list[str]:
    """A streaming rank's stream ends and its container is `end`: the markers the log then holds."""
    stream = feed.streams.get(rank) or LogStream(HostConnection(f"lap{rank + 1}", "x"), rank, feed.receive)
    feed.streams[rank] = stream
    stream.previous_state, stream.state, stream.end = "streaming", state, end
    stream.last_text = last or None
    feed._stream_state(rank, state, why or "stream ended")
    return [row.text for row in feed.buffer.lines(ranks=[rank]) if row.marker]


def test_a_stream_that_ends_and_comes_back_is_marked_in_the_log_and_its_state_stays_on_the_stream():
    changed: list[int] = []
    feed = LogFeed(100, on_state=changed.append)
    ended(feed, 1, "waiting", ContainerEnd("restarting", 137))
    stream = feed.streams[1]
    stream.streamed, stream.restarts = 2, 1
    feed._stream_state(1, "streaming", "container restarts: 1")
    markers = [row.text for row in feed.buffer.lines() if row.marker]
    assert markers == [
        "── log stream ended: the container exited (code 137), Docker restarts it; reconnecting ──",
        "── log stream back, container restarts: 1 ──",
    ]
    assert changed == [1, 1] and feed.restarts(1) == 1 and feed.restarts(0) is None


def test_a_finished_rank_says_finished_and_never_reconnecting():
    feed = LogFeed(100)
    assert ended(feed, 0, "finished", ContainerEnd("exited", 0), '{"event": "done", "step": 30}') == [
        "── finished (exit 0) ──"
    ]


def test_a_failed_rank_shows_its_exit_code_and_last_line_in_readable_form():
    feed = LogFeed(100)
    assert ended(
        feed, 1, "failed", ContainerEnd("exited", 2), "hetero-train: --model foo: no such model"
    ) == ["── failed (exit 2): hetero-train: --model foo: no such model ──"]
    lost = (
        '{"event": "peer_lost", "rank": 2, "step": 57, "snapshot_step": 50, "error": "reset", "exit_code": 3}'
    )
    assert ended(feed, 2, "failed", ContainerEnd("exited", 3), lost) == [
        "── failed (exit 3): peer lost at step 57 · newest snapshot: step 50 · exit 3 · reset ──"
    ]


def test_only_a_container_coming_back_says_reconnecting():
    feed = LogFeed(100)
    assert ended(feed, 0, "waiting", ContainerEnd("running", 0), why="Connection to lap1 closed.") == [
        "── log stream ended (Connection to lap1 closed.): the container is running; reconnecting ──"
    ]
    assert ended(feed, 1, "waiting", ContainerEnd("gone")) == [
        "── log stream ended: the container was removed ──"
    ]
    assert ended(feed, 2, "waiting", ContainerEnd(""), why="ssh: no route") == [
        "── log stream ended (ssh: no route): the container's state could not be read; reconnecting ──"
    ]


def test_docker_inspect_output_says_how_the_container_ended():
    assert ContainerEnd.parse(0, "exited 0") == ContainerEnd("exited", 0) and ContainerEnd("exited", 0).exited
    assert ContainerEnd.parse(0, "exited 137").exit_code == 137
    assert not ContainerEnd.parse(0, "restarting 137").exited  # Docker brings it back: not the end
    assert not ContainerEnd.parse(0, "running 0").exited
    assert ContainerEnd.parse(1, "Error: No such object: hetero-rank-1") == ContainerEnd("gone")
    assert ContainerEnd.parse(255, "ssh: connect to host lap2 port 22: Connection refused") == ContainerEnd(
        ""
    )


def test_a_reader_holding_part_of_a_grid_does_not_see_it_change_under_it():
    grid = RunGrid()
    grid.apply(HostStarted("p1", "task", "t1", "lap1"))
    hosts, cells = grid.hosts, grid.plays[0].tasks[0].cells
    grid.apply(HostStarted("p1", "task", "t1", "lap2"))
    grid.apply(HostResult("play", "p1", "task", "t1", "lap1", "ok", 1.0))
    assert hosts == ["lap1"] and list(cells) == ["lap1"] and cells["lap1"].status == "running"
    assert grid.hosts == ["lap1", "lap2"] and grid.cell("t1", "lap1").status == "ok"
