"""Pilot tests of the logs screen, fed through the same path the SSH streams use (app.receive_log_line).

The streams themselves (docker logs over SSH, reconnects) run for real in test_app_lab.py."""

from __future__ import annotations

import json

from hetero_tui.app import HeteroApp
from hetero_tui.messages import LogStreamState
from hetero_tui.screens.logs import LogsScreen
from hetero_tui.services.logs import ContainerEnd, HostConnection, LogStream
from hetero_tui.widgets.log_view import MATCH_STYLE, LogView
from textual.widgets import Input, Markdown, Static, Tabs

from tests.tui.app_helpers import REPO, log_line, log_view_lines, pilot_test, step_line, text_of


def make_app(tmp_path, **kwargs) -> HeteroApp:
    return HeteroApp(
        REPO / "inventory" / "local.yml",
        artifacts=tmp_path / "artifacts",
        save_dir=tmp_path,
        follow_containers=False,
        **kwargs,
    )


async def feed(pilot, lines) -> None:
    for line in lines:
        pilot.app.receive_log_line(line)
    await pilot.pause(0.3)  # the pump batches every 50 ms


async def open_logs(pilot) -> LogView:
    await pilot.press("l")
    assert isinstance(pilot.app.screen, LogsScreen)
    return pilot.app.screen.query_one(LogView)


@pilot_test
async def test_merged_view_with_rank_prefixes_and_a_tab_per_rank(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        await feed(
            pilot, [log_line(0, "starting rank 0"), log_line(1, "starting rank 1"), log_line(0, "step 1")]
        )
        assert log_view_lines(view) == ["[0] starting rank 0", "[1] starting rank 1", "[0] step 1"]
        tabs = pilot.app.screen.query_one(Tabs)
        assert [str(tab.label) for tab in tabs.query("Tab")] == ["all ranks", "rank 0", "rank 1"]
        await pilot.press("2")  # rank 1's tab
        assert log_view_lines(view) == ["[1] starting rank 1"]
        await pilot.press("0")
        assert len(log_view_lines(view)) == 3
        # the prefix is drawn in the rank's colour, different per rank
        colours = {view.render_line(y)._segments[0].style.color.name for y in range(2)}
        assert len(colours) == 2


@pilot_test
async def test_follow_off_counts_new_lines(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        await feed(pilot, [log_line(0, f"line {i}") for i in range(40)])
        assert log_view_lines(view)[-1] == "[0] line 39"  # following: the newest line is in view
        await pilot.press("s")
        await feed(pilot, [log_line(1, f"more {i}") for i in range(7)])
        status = pilot.app.screen.query_one("#log-status", Static)
        pilot.app.screen.refresh_status()
        assert "paused" in text_of(status) and "+7 new lines" in text_of(status)
        assert log_view_lines(view)[-1] == "[0] line 39"  # the view stayed where it was
        await pilot.press("s")
        pilot.app.screen.refresh_status()
        assert "new lines" not in text_of(status)
        assert log_view_lines(view)[-1] == "[1] more 6"


@pilot_test
async def test_regex_filter_highlights_and_rejects_a_bad_pattern(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        await feed(pilot, [log_line(0, "loss 0.5"), log_line(1, "warning: slow"), log_line(1, "loss 0.4")])
        await pilot.press("slash", *"loss [0-9.]+", "enter")
        assert log_view_lines(view) == ["[0] loss 0.5", "[1] loss 0.4"]
        strip = view.render_line(0)
        highlighted = "".join(
            seg.text for seg in strip._segments if seg.style and seg.style.bgcolor == MATCH_STYLE.bgcolor
        )
        assert highlighted == "loss 0.5"
        await pilot.press("slash")
        box = pilot.app.screen.query_one("#log-filter", Input)
        box.value = "loss ("
        await pilot.press("enter")
        assert view.pattern == "loss [0-9.]+"  # a pattern that does not compile is not applied
        assert not box.is_valid
        await pilot.press("escape")  # closes the box
        await pilot.press("escape")  # clears the filter
        assert len(log_view_lines(view)) == 3
        assert isinstance(pilot.app.screen, LogsScreen)


@pilot_test
async def test_timestamps_wrap_and_save(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        long = "x" * 150
        await feed(pilot, [log_line(0, "hello", second=7), log_line(1, long, second=8)])
        await pilot.press("t")
        assert log_view_lines(view)[0] == "12:00:07.000 [0] hello"
        await pilot.press("t", "w")
        rows = log_view_lines(view)
        assert (
            rows[0] == "[0] hello" and len(rows) == 3
        )  # 4 + 150 characters wrap onto two rows at 80 columns
        assert rows[1] + rows[2] == "[1] " + long
        await pilot.press("2", "ctrl+s")
        await pilot.pause()
        saved = list(tmp_path.glob("hetero-logs-*.txt"))
        assert len(saved) == 1
        assert saved[0].read_text() == f"2026-11-21T12:00:08.000000000Z rank 1 {long}\n"


@pilot_test
async def test_memory_stays_bounded(tmp_path):
    async with make_app(tmp_path, log_buffer_lines=500).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        await feed(pilot, [log_line(i % 4, f"line {i}") for i in range(5000)])
        assert view.line_count == 500 and len(pilot.app.logs.buffer) == 500
        assert log_view_lines(view)[-1] == "[3] line 4999"
        await pilot.press("slash", *"line 49", "enter")
        assert view.matching_count == 100  # "line 4900".."line 4999": the older ones were dropped


@pilot_test
async def test_views_are_never_stacked_twice_and_escape_goes_back(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("l", "m", "m", "l")  # logs, metrics, (metrics again: no-op), back to the logs
        assert isinstance(pilot.app.screen, LogsScreen)
        assert len(pilot.app.screen_stack) == 3  # default, inventory, logs
        await pilot.press("r")  # no run yet: says so and stays
        assert isinstance(pilot.app.screen, LogsScreen)
        await pilot.press("escape")
        assert pilot.app.screen.__class__.__name__ == "InventoryScreen"


@pilot_test
async def test_brackets_walk_the_rank_tabs_past_rank_8_and_help_says_so(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        await feed(pilot, [log_line(rank, f"hello from {rank}") for rank in range(12)])
        tabs = pilot.app.screen.query_one(Tabs)
        await pilot.press(*["right_square_bracket"] * 12)  # all ranks -> rank 0 -> ... -> rank 11
        assert tabs.active == "rank-11"
        assert log_view_lines(view) == ["[11] hello from 11"]
        await pilot.press("left_square_bracket")
        assert tabs.active == "rank-10" and log_view_lines(view) == ["[10] hello from 10"]
        await pilot.press("0", "left_square_bracket")  # from "all ranks" back round to the last rank
        assert tabs.active == "rank-11"
        await pilot.press("question_mark")
        shown = pilot.app.screen.query_one(Markdown).source
        assert "`[` / `]`" in shown and "previous / next rank tab" in shown


@pilot_test
async def test_a_restarted_ranks_tab_and_status_show_its_restart_count(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        await open_logs(pilot)
        await feed(pilot, [log_line(0, "up"), log_line(1, "up")])
        # rank 1's stream came back and read its container's restart count (streams run for real in the lab)
        stream = LogStream(HostConnection("lap2", "lap2"), 1, pilot.app.receive_log_line)
        stream.state, stream.restarts = "streaming", 2
        pilot.app.logs.streams[1] = stream
        pilot.app.post_message(LogStreamState(1))
        await pilot.pause(0.3)
        labels = [str(tab.label) for tab in pilot.app.screen.query_one(Tabs).query("Tab")]
        assert labels == ["all ranks", "rank 0", "rank 1 ↻2"]
        pilot.app.screen.refresh_status()
        assert "r1:stre↻2" in text_of(pilot.app.screen.query_one("#log-status", Static))


STEP = step_line(0, 120, 95, compute_s=0.1449, step_s=0.21, loss=1.812345)  # 452 samples/s, comm 31 %


@pilot_test
async def test_a_step_event_reads_as_a_line_and_j_shows_the_raw_json(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        await feed(pilot, [log_line(0, STEP), log_line(1, "hetero-train: rank 1/2 lap2: no GPU")])
        readable = "[0] step 120 · loss 1.81 · share 95 · 452 samples/s · comm 31%"
        assert log_view_lines(view) == [readable, "[1] hetero-train: rank 1/2 lap2: no GPU"]
        raw_key = pilot.app.screen.active_bindings["j"].binding  # the footer shows the keys of these
        assert raw_key.show and raw_key.description == "Raw"
        await pilot.press("j")
        rows = log_view_lines(view)
        assert rows[0].startswith('[0] {"event": "step", "rank": 0, "step": 120,') and rows[0].endswith("…")
        assert len(rows[0]) == 80 and rows[1] == "[1] hetero-train: rank 1/2 lap2: no GPU"
        pilot.app.screen.refresh_status()
        assert "raw " in text_of(pilot.app.screen.query_one("#log-status", Static))
        await pilot.press("w")  # wrapped, the whole JSON line is there
        rows = log_view_lines(view)
        assert "".join(rows[:-1]) == f"[0] {STEP}" and rows[-1] == "[1] hetero-train: rank 1/2 lap2: no GPU"
        await pilot.press("j", "w")
        assert log_view_lines(view)[0] == readable
        await pilot.press("question_mark")
        shown = pilot.app.screen.query_one(Markdown).source
        assert "| `j` | raw:" in shown and "finished (exit 0)" in shown


@pilot_test
async def test_filter_matches_the_readable_text_and_save_writes_the_lines_raw(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        done = '{"event": "done", "rank": 1, "step": 300, "epoch": 2}'
        await feed(pilot, [log_line(0, STEP, 1), log_line(1, "loading data", 2), log_line(1, done, 3)])
        await pilot.press("slash", *"comm 3[0-9]%|done at", "enter")
        assert log_view_lines(view) == [
            "[0] step 120 · loss 1.81 · share 95 · 452 samples/s · comm 31%",
            "[1] done at step 300",
        ]
        await pilot.press("ctrl+s")
        await pilot.pause()
        [saved] = tmp_path.glob("hetero-logs-*.txt")
        assert saved.read_text().splitlines() == [
            f"2026-11-21T12:00:01.000000000Z rank 0 {STEP}",
            f"2026-11-21T12:00:03.000000000Z rank 1 {done}",
        ]


@pilot_test
async def test_a_long_readable_line_is_cut_with_an_ellipsis_or_wrapped(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        reason = "rank 2 (lap3) leaves the world: its link costs 0.412 s a step and its compute saves 0.020 s"
        left = json.dumps({"event": "left_out", "rank": 2, "step": 40, "reason": reason, "exit_code": 0})
        await feed(pilot, [log_line(2, left)])
        [row] = log_view_lines(view)
        assert len(row) == 80 and row.endswith("…") and row.startswith("[2] rank 2 (lap3) leaves the world")
        await pilot.press("w")
        rows = log_view_lines(view)
        assert len(rows) == 2 and "".join(rows) == f"[2] {reason}"


def end_stream(app, rank: int, state: str, end: ContainerEnd, last: str) -> None:
    """Rank's stream was streaming and ended; its container is `end` (streams run for real in the lab and
    the docker tests of test_services_logs.py)."""
    stream = LogStream(HostConnection(f"lap{rank + 1}", "x"), rank, app.receive_log_line)
    stream.previous_state, stream.state, stream.end, stream.last_text = "streaming", state, end, last
    app.logs.streams[rank] = stream
    app.logs._stream_state(rank, state, "stream ended")


@pilot_test
async def test_a_finished_rank_and_a_failed_rank_say_so_and_neither_reconnects(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        view = await open_logs(pilot)
        done = '{"event": "done", "rank": 0, "step": 300, "epoch": 2}'
        await feed(pilot, [log_line(0, done), log_line(1, "RuntimeError: CUDA out of memory")])
        end_stream(pilot.app, 0, "finished", ContainerEnd("exited", 0), done)
        end_stream(pilot.app, 1, "failed", ContainerEnd("exited", 1), "RuntimeError: CUDA out of memory")
        await pilot.pause(0.3)
        assert log_view_lines(view) == [
            "[0] done at step 300",
            "[1] RuntimeError: CUDA out of memory",
            "[0] ── finished (exit 0) ──",
            "[1] ── failed (exit 1): RuntimeError: CUDA out of memory ──",
        ]
        assert not any("reconnecting" in line.text for line in pilot.app.logs.buffer.lines())
        labels = [str(tab.label) for tab in pilot.app.screen.query_one(Tabs).query("Tab")]
        assert labels == ["all ranks", "rank 0 ✓", "rank 1 ✗1"]
        pilot.app.screen.refresh_status()
        status = text_of(pilot.app.screen.query_one("#log-status", Static))
        assert "r0:exit0 " in status and "r1:exit1 " in status
