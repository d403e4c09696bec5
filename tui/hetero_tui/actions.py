"""The playbook actions the TUI offers: one table read by key bindings, the command palette and the help.
Which playbook an action runs is the runner's to say (runner.PLAYBOOKS)."""

from __future__ import annotations

from dataclasses import dataclass

from hetero_tui.services.runner import PLAYBOOKS


@dataclass(frozen=True)
class PlaybookAction:
    name: str  # what the user sees ("Preflight")
    key: str  # the key on the inventory screen
    help: str

    @property
    def action_id(self) -> str:
        return self.name.lower()

    @property
    def playbook(self) -> str:
        """The playbook it runs, relative to the project root."""
        return PLAYBOOKS[self.action_id]


ACTIONS: tuple[PlaybookAction, ...] = (
    PlaybookAction("Preflight", "p", "check every host, print the rank plan"),
    PlaybookAction("Provision", "P", "Docker, NVIDIA toolkit, firewall"),
    PlaybookAction("Distribute", "D", "trainer image to hosts that lack it"),
    PlaybookAction("Launch", "L", "one container per rank"),
    PlaybookAction("Stop", "S", "stop the rank containers"),
    PlaybookAction("Status", "s", "Docker, image and containers of every host"),
    PlaybookAction("Collect", "C", "bring the experiment back to this machine"),
    PlaybookAction("Up", "U", "the whole pipeline: preflight to launch"),
)

BY_ID = {action.action_id: action for action in ACTIONS}
