"""The TUI's log view under load: 4 ranks emitting 2,000 lines/s each for 60 s.

Each rank is a local process printing lines the way `docker logs --timestamps` does; the app follows it with
the services' LogStream (the same parsing thread, callback, LogBuffer, pump worker, LogLinesArrived batches
and LogView as a real rank container over SSH — only the command differs). The app runs headless at 80x24 in
this process, so its RSS is the TUI's.

Measured:
  lag  - each time the view draws the newest line it holds, draw time minus that line's emission time
         (carried in the line), over the run (p50 / p95 / max);
  rss  - this process's resident memory every 5 s; "flat" compares the last sample with the one at 20 s
         (by then the bounded buffers are full);
  rate - lines received per second against the lines emitted.
Prints a summary and writes bench/results/tui_logs.json.
Run: .venv/bin/python -m bench.tui_logs [--seconds 60] [--rate 2000] [--ranks 4] [--busy N] [--json]
(--busy N: N busy-loop processes run beside it, a repeatable "loaded machine" for the lag goal;
--json: every line is a trainer step event, so each one is also parsed into the metrics model and drawn as
its readable line, `step 12 · loss 0.5 · ...`, the way the TUI shows a real training)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from hetero_tui.app import HeteroApp
from hetero_tui.screens.logs import LogsScreen
from hetero_tui.services.logs import HostConnection, LogStream
from hetero_tui.widgets.log_view import LogView

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "tui_logs.json"


# A rank: print `rate` docker-style lines per second in 10 ms bursts, each with its emission time. Run with
# `python -c` so that a rank starts in milliseconds (stdlib only).
EMITTER = """
import sys, time
from datetime import UTC, datetime
rank, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
json_lines = sys.argv[4] == "json"
out, start, sent = sys.stdout, time.time(), 0
TEXT = "rank {rank} line {n} emitted={now:.6f} loss=0.{m:03d} padding to a typical log line length"
STEP = ('{{"event": "step", "rank": {rank}, "step": {n}, "epoch": 0, "loss": 0.{m:03d}, "share": 16,'
        ' "compute_s": 0.03, "comm_s": 0.01, "step_s": 0.04, "samples_per_s": 400.0, "emitted": {now:.6f}}}')
line = STEP if json_lines else TEXT
while (now := time.time()) - start < seconds:
    due = int((now - start) * rate) - sent
    if due > 0:
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        out.write("".join(
            f"{stamp}{(sent + i) % 1000:03d}Z "
            + line.format(rank=rank, n=sent + i, now=now, m=(sent + i) % 1000) + "\\n"
            for i in range(due)))
        out.flush()
        sent += due
    time.sleep(0.01)
"""


class EmitterConnection(HostConnection):
    """A "host" whose `docker logs` is the emitter process (the rest of LogStream is untouched)."""

    seconds: float = 60.0
    rate: int = 2000
    lines: str = "text"  # or "json": trainer step events

    def argv(self, command: list[str]) -> list[str]:
        rank = int(command[-1].rsplit("-", 1)[-1])
        return [sys.executable, "-c", EMITTER, str(rank), str(self.rate), str(self.seconds), self.lines]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summarize(lags: list[float]) -> dict:
    if not lags:
        return {"samples": 0}
    return {
        "samples": len(lags),
        "p50": round(statistics.median(lags), 3),
        "p95": round(percentile(lags, 0.95), 3),
        "max": round(max(lags), 3),
        "over_0_5_s": sum(lag > 0.5 for lag in lags),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


EMITTED = re.compile(r'emitted(?:=|": )([0-9.]+)')  # in a text line, or a step event's field


async def measure(ranks: int, rate: int, seconds: float, lines: str = "text") -> dict:
    lags: list[float] = []
    lag_times: list[float] = []  # when each lag was measured, to tell start-up from steady state
    original = LogView.render_line

    def timed_render_line(view, y):
        # Bench-only probe: note when the newest line the view holds is drawn.
        strip = original(view, y)
        newest = view.newest
        found = EMITTED.search(newest.text) if newest is not None and view.last_drawn is newest else None
        if found:
            emitted = float(found.group(1))
            lags.append(time.time() - emitted)
            lag_times.append(time.time())
            view.last_drawn = None  # count each newest line once
        return strip

    LogView.render_line = timed_render_line
    EmitterConnection.seconds, EmitterConnection.rate, EmitterConnection.lines = seconds, rate, lines
    app = HeteroApp(
        REPO / "inventory" / "local.yml",
        artifacts=REPO / "build" / "bench-artifacts",
        follow_containers=False,
    )
    rss: list[tuple[float, float]] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, LogsScreen)
        streams = [
            LogStream(
                EmitterConnection(f"emitter{r}", "127.0.0.1"),
                r,
                app.receive_log_line,
                tail=0,
                on_state=lambda state, why, r=r: print(f"[bench] rank {r}: {state} {why}", file=sys.stderr),
            )
            for r in range(ranks)
        ]
        start = time.time()
        for stream in streams:
            stream.start()
        next_sample = 0.0
        while (elapsed := time.time() - start) < seconds + 1:
            if elapsed >= next_sample:
                rss.append((round(elapsed, 1), round(rss_mb(), 1)))
                print(
                    f"[bench] {elapsed:5.1f} s  received {app.logs.buffer.appended:>8}  "
                    f"rss {rss[-1][1]:.1f} MB  lag samples {len(lags)}",
                    file=sys.stderr,
                    flush=True,
                )
                next_sample += 5
            await pilot.pause(0.1)
        received = app.logs.buffer.appended
        for stream in streams:
            stream.stop(timeout=2)
        view = app.screen.query_one(LogView)
        kept = (view.line_count, len(app.logs.buffer))
    LogView.render_line = original
    at20 = next((mb for t, mb in rss if t >= 20), rss[0][1])
    return {
        "ranks": ranks,
        "lines_per_s_per_rank": rate,
        "lines": lines,  # text, or json: trainer step events (parsed into metrics, drawn readable)
        "seconds": seconds,
        "emitted": ranks * rate * int(seconds),
        "received": received,
        "received_per_s": round(received / seconds),
        "kept_lines_view_and_buffer": kept,
        "lag_s": {
            "samples": len(lags),
            "p50": round(statistics.median(lags), 3) if lags else None,
            "p95": round(percentile(lags, 0.95), 3),
            "max": round(max(lags), 3) if lags else None,
            "over_0_5_s": sum(lag > 0.5 for lag in lags),
        },
        # the same after the first 5 s (ranks starting, the buffers filling for the first time)
        "lag_s_after_5s": summarize([lag for lag, t in zip(lags, lag_times, strict=True) if t - start >= 5]),
        "rss_mb": rss,
        "rss_growth_mb_20s_to_end": round(rss[-1][1] - at20, 1),
        "goal": "lag <= 0.5 s, memory flat",
    }


@contextlib.contextmanager
def busy_loops(count: int):
    """`count` processes spinning on a CPU each, for as long as the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes beside the app (load)")
    parser.add_argument("--json", action="store_true", help="trainer step events instead of text lines")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with busy_loops(args.busy):
        result = asyncio.run(measure(args.ranks, args.rate, args.seconds, "json" if args.json else "text"))
        load_during = os.getloadavg()[0]
    result["machine"] = {
        "cpus": os.cpu_count(),
        "busy_loops": args.busy,
        "loadavg_before": load_before,
        "loadavg_at_end": load_during,
    }
    lag = result["lag_s"]
    print(
        f"{result['ranks']} ranks x {result['lines_per_s_per_rank']} lines/s for {result['seconds']:.0f} s: "
        f"received {result['received']} of {result['emitted']} ({result['received_per_s']}/s)"
    )
    print(
        f"lag emission -> drawn: p50 {lag['p50']} s, p95 {lag['p95']} s, max {lag['max']} s "
        f"({lag['samples']} samples; goal <= 0.5 s)"
    )
    steady = result["lag_s_after_5s"]
    print(
        f"  after the first 5 s: p50 {steady.get('p50')} s, p95 {steady.get('p95')} s, "
        f"max {steady.get('max')} s; "
        f"{steady.get('over_0_5_s')} of {steady['samples']} draws over 0.5 s"
    )
    print(
        f"RSS: {result['rss_mb'][0][1]} MB at start, {result['rss_mb'][-1][1]} MB at the end, "
        f"{result['rss_growth_mb_20s_to_end']:+} MB from 20 s to the end (goal: flat)"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, {args.busy} busy-loop processes beside the app, load average "
        f"{load_before:.2f} before, {load_during:.2f} at the end"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
