"""The TUI's services: plain Python (no Textual import), unit tested alone.

- inventory: load, validate and save the user's inventory and training settings (comments kept)
- events / rungrid / runner: run a playbook with ansible-runner, turn its events into dataclasses, a grid
- logs: tail every rank container's log over SSH, one bounded merged buffer
- metrics: per-rank series, total throughput, efficiency and stragglers from the trainer's JSON lines
- hoststate: per-host state (reachable, Docker, image, containers, ranks) from a run's results
"""

from pathlib import Path


def _repo_root() -> Path:
    """The checkout this package runs from (tui/hetero_tui/services -> ../../..), else the working directory
    (an installed, non-editable copy is used from inside a checkout)."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "site.yml").exists() else Path.cwd()


REPO_ROOT = _repo_root()
