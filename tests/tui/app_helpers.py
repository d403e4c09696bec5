"""Helpers for the app's Pilot tests: inventory copies, reading what a widget shows, waiting for a run."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import time
import uuid
from pathlib import Path

from hetero_tui.services.logbuffer import LogLine

from tests.lab.pipeline import TINY_TRAINING, run_playbook

REPO = Path(__file__).resolve().parents[2]


def tiny_training() -> dict:
    """Extra vars for a training of a few seconds on the lab, under a fresh experiment name (a reused name
    would resume a finished run and print no step). No waiting: the TUI follows the run itself."""
    training = {
        key: value for key, value in TINY_TRAINING.items() if not key.startswith("hetero_trainer_wait")
    }
    training["hetero_experiment_name"] = f"tui-{uuid.uuid4().hex[:8]}"
    return training


def distribute_image(lab, data_dir: Path) -> None:
    """The trainer image on every lab laptop (distribute.yml sends it only where it is missing)."""
    run = run_playbook("playbooks/distribute.yml", lab.inventory, data_dir)
    assert run.rc == 0, run.stdout[-3000:]


def laptops_see_a_whole_ufw(lab) -> None:
    """Provision meets whatever firewall the laptops have. The firewall tests install ufw on the machine for
    a while; a laptop whose private /etc/ufw was copied before that sees ufw without its files and
    `ufw status` fails there. Such a laptop gets the package's files (ufw stays off, as installed)."""
    if shutil.which("ufw") is not None and Path("/etc/ufw/ufw.conf").is_file():
        lab.make_private("/etc/ufw")


def pilot_test(test):
    """Run an async Pilot test on a fresh event loop (the project needs no pytest async plugin)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def copy_inventory(source: Path, into: Path) -> Path:
    """Copy an inventory file and its group_vars/ (as real files, never through a symlink) into `into`,
    so a test can edit or extend it without touching the user's or the lab's files."""
    into.mkdir(parents=True, exist_ok=True)
    target = into / Path(source).name
    shutil.copyfile(source, target)
    shutil.copytree(
        Path(source).parent / "group_vars", into / "group_vars", symlinks=False, dirs_exist_ok=True
    )
    return target


def text_of(widget) -> str:
    """What a Static/Label shows, as plain text."""
    content = widget.content
    return getattr(content, "plain", str(content))


def log_view_lines(view) -> list[str]:
    """The rows a LogView draws right now, top to bottom, as plain text (trailing blanks dropped)."""
    rows = [view.render_line(y).text.rstrip() for y in range(view.scrollable_content_region.height)]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def table_rows(table) -> list[list[str]]:
    """Every row of a DataTable as plain strings."""
    return [
        [getattr(cell, "plain", str(cell)) for cell in table.get_row_at(i)] for i in range(table.row_count)
    ]


def log_line(rank: int, text: str, second: int = 0) -> LogLine:
    return LogLine(rank, f"2026-11-21T12:00:{second:02d}.000000000Z", text, f"lap{rank + 1}")


def step_line(
    rank: int, step: int, share: int, compute_s: float, step_s: float | None = None, loss: float = 1.0
) -> str:
    """A trainer "step" event line, as the ranks print it. A step is the rank's compute plus its wait for the
    others (comm); `step_s` defaults to 10 ms of comm."""
    step_s = compute_s + 0.01 if step_s is None else step_s
    return json.dumps(
        {
            "event": "step",
            "rank": rank,
            "step": step,
            "epoch": 0,
            "loss": loss,
            "samples_per_s": share / step_s,
            "share": share,
            "compute_s": compute_s,
            "comm_s": step_s - compute_s,
            "step_s": step_s,
            "memory_mb": 100.0,
            "device": "cpu",
        }
    )


async def wait_for(pilot, predicate, timeout: float = 300, what: str = "condition") -> None:
    """Let the app run until `predicate()` holds (a cap, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        await pilot.pause(0.2)


def grid_cells(table, task: str) -> dict[str, str]:
    """What the run grid shows for one task (its first row of that name), as {host: "changed 1.2s"}."""
    hosts = [column.key.value for column in table.ordered_columns][1:]  # the first column names the task
    for row in table_rows(table):
        if row[0].strip() == task:
            return dict(zip(hosts, row[1:], strict=True))
    raise AssertionError(f"the grid has no task {task!r}: {[row[0].strip() for row in table_rows(table)]}")
