"""The playbook actions the TUI offers: one table read by key bindings, the command palette and the help."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlaybookAction:
    name: str  # what the user sees ("Preflight")
    key: str  # the key on the inventory screen
    playbook: str  # path relative to the project root
    help: str

    @property
    def action_id(self) -> str:
        return self.name.lower()


ACTIONS: tuple[PlaybookAction, ...] = (
    PlaybookAction("Preflight", "p", "playbooks/preflight.yml", "check every host, print the rank plan"),
    PlaybookAction("Provision", "P", "playbooks/provision.yml", "Docker, NVIDIA toolkit, firewall"),
    PlaybookAction("Distribute", "D", "playbooks/distribute.yml", "trainer image to hosts that lack it"),
    PlaybookAction("Launch", "L", "playbooks/launch.yml", "one container per rank"),
    PlaybookAction("Stop", "S", "playbooks/stop.yml", "stop the rank containers"),
    PlaybookAction("Status", "s", "playbooks/status.yml", "Docker, image and containers of every host"),
    PlaybookAction("Collect", "C", "playbooks/collect.yml", "bring the experiment back to this machine"),
    PlaybookAction("Up", "U", "site.yml", "the whole pipeline: preflight to launch"),
)

BY_ID = {action.action_id: action for action in ACTIONS}
