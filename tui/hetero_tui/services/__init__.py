"""The TUI's services: plain Python (no Textual import), unit tested alone.

- inventory: load, validate and save the user's inventory and training settings (comments kept)
- events / rungrid / runner: run a playbook with ansible-runner, turn its events into dataclasses, a grid
- logs: tail every rank container's log over SSH, one bounded merged buffer
- metrics: per-rank series, total throughput, efficiency and stragglers from the trainer's JSON lines
- hoststate: per-host state (reachable, Docker, image, containers, ranks) from a run's results
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]  # tui/hetero_tui/services -> the repository
