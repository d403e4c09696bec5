"""The command palette (ctrl+p): every playbook action and every screen, by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from hetero_tui.actions import ACTIONS
from hetero_tui.views import VIEWS


class HeteroCommands(Provider):
    def _commands(self):
        app = self.app
        for action in ACTIONS:
            yield (
                f"Run {action.name}",
                partial(app.start_action, action.action_id),
                f"{action.playbook}: {action.help}",
            )
        for view in VIEWS:
            yield (f"Show {view.title}", partial(app.show, view.name), view.help)

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
