"""What every full screen shares: `?` shows its help, `Esc` goes back."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen

from hetero_tui.screens.help import HelpScreen


class HeteroScreen(Screen):
    HELP = ""  # markdown: this screen's keys, shown by `?`

    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("escape", "back", "Back"),
    ]

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.HELP))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:  # [default screen, inventory, ...]: never pop the inventory
            self.app.pop_screen()
