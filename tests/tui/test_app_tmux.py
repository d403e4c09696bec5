"""hetero-tui in a real terminal: tmux at 80x24, keys sent with send-keys, the screen read with capture-pane.
It launches a tiny training on the lab, waits for every rank's log lines to appear on screen, reads the
trainer's step events as readable lines, and sees them plotted on the metrics screen."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab.pipeline import run_playbook
from tests.tui.app_helpers import copy_inventory, distribute_image, tiny_training

pytestmark = pytest.mark.lab
HETERO_TUI = Path(sys.executable).parent / "hetero-tui"
READABLE_STEP = r"\[{rank}\] step \d+ · loss \d"  # how the log view shows a rank's step event


def plotted(screen: str) -> bool:
    """plotext draws the lines in braille dots; an empty plot has none and says "no steps yet"."""
    return any("\u2801" <= ch <= "\u28ff" for ch in screen) and "no steps yet" not in screen


@pytest.fixture(scope="module")
def distributed(lab, base_image, tmp_path_factory):
    distribute_image(lab, tmp_path_factory.mktemp("distribute"))


class Tmux:
    """One tmux server of our own (-L), one 80x24 session."""

    def __init__(self, socket: str):
        self.socket = socket

    def run(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "tui", *keys)

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        """Poll the screen until predicate(screen) holds (a cap, not a timing assertion)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}; the screen shows:\n{screen}")
            time.sleep(0.5)


@pytest.fixture
def tmux():
    if shutil.which("tmux") is None:
        subprocess.run(["apt-get", "install", "-y", "tmux"], check=True, capture_output=True)
    session = Tmux(f"hetero-tui-test-{os.getpid()}")
    yield session
    session.run("kill-server")


def test_launch_in_tmux_shows_every_ranks_log_lines(lab, distributed, tmux, tmp_path):
    inventory = copy_inventory(lab.inventory, tmp_path / "inv")
    extra = [arg for key, value in tiny_training().items() for arg in ("-e", f"{key}={value}")]
    command = [str(HETERO_TUI), "-i", str(inventory), "--artifacts", str(tmp_path / "artifacts"), *extra]
    # The command runs in a shell; its last line stays on screen if the app fails to start.
    tmux.run(
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "80",
        "-y",
        "24",
        "-c",
        str(tmp_path),
        subprocess.list2cmdline(command) + "; echo hetero-tui exited $?; sleep 60",
    )
    try:
        tmux.wait_for(lambda s: "lap3" in s and "Ranks" in s, 60, "the inventory screen")
        tmux.keys("L")
        screen = tmux.wait_for(
            lambda s: "Launch successful" in s or "Launch failed" in s, 900, "Launch to end"
        )
        assert "Launch successful" in screen, screen
        tmux.keys("l")
        screen = tmux.wait_for(
            lambda s: all(f"\n[{rank}] " in s for rank in range(3)), 600, "a log line from every rank"
        )
        assert "all ranks" in screen and "rank 2" in screen  # the tabs
        # Only the step lines (the filter matches the readable text, not the JSON): one line each, readable.
        tmux.keys("/")
        # Keys sent before the filter input has focus are lost (CI saw it): type only once it shows.
        tmux.wait_for(lambda s: "regex filter" in s, 30, "the filter input")
        tmux.keys("-l", "loss [0-9]")
        tmux.wait_for(lambda s: "loss [0-9]" in s, 30, "the filter typed")
        tmux.keys("Enter")
        screen = tmux.wait_for(
            lambda s: all(re.search(READABLE_STEP.format(rank=rank), s) for rank in range(3)),
            120,
            "a readable step line from every rank",
        )
        assert '{"event"' not in screen and "samples/s" in screen, screen
        tmux.keys("m")
        tmux.keys("g")  # the Plots tab
        screen = tmux.wait_for(plotted, 60, "samples/s, share and loss plotted")
        assert "samples/s per rank" in screen and "loss (the cluster's)" in screen, screen
        tmux.keys("q")
        tmux.wait_for(lambda s: "hetero-tui exited 0" in s, 30, "hetero-tui to quit")
    finally:
        run_playbook("playbooks/stop.yml", lab.inventory, tmp_path / "stop")
