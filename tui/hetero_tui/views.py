"""The views the TUI shows by name: one table read by the key bindings, the command palette and the help."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    name: str  # what app.show() takes
    title: str  # in the command palette and the help
    help: str
    key: str = ""  # the key that shows it from anywhere ("": none)
    label: str = ""  # the key's name in the footer and the key list (default: the title)
    footer: bool = False  # the key is shown in the footer

    @property
    def key_label(self) -> str:
        return self.label or self.title


VIEWS: tuple[View, ...] = (
    View("inventory", "Inventory", "hosts, ranks and their state", "i"),
    View("run", "Current run", "the live grid of the last action", "r", "Run", footer=True),
    View("history", "Past runs", "reopen a kept run", "h"),
    View("logs", "Logs", "every rank's container log", "l", footer=True),
    View("metrics", "Metrics", "where each rank's step goes, host figures, planner, plots", "m", footer=True),
    View("experiments", "Experiments", "collected experiments side by side: loss, samples/s, sync", "E"),
    View("settings", "Training settings", "edit group_vars/all.yml"),
)

KEYED = tuple(view for view in VIEWS if view.key)
