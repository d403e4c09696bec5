"""`?`: the keys of the screen underneath, plus the keys that work everywhere."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from hetero_tui.actions import ACTIONS
from hetero_tui.views import KEYED

GLOBAL_KEYS = f"""\
| key | everywhere |
|---|---|
| `?` | this help |
| `Esc` | back |
| `q` | quit |
| `ctrl+p` | command palette (every action by name) |
| {" ".join(f"`{view.key}`" for view in KEYED)} | {", ".join(view.title.lower() for view in KEYED)} |
"""


def actions_table() -> str:
    rows = "\n".join(f"| `{a.key}` | {a.name}: {a.help} |" for a in ACTIONS)
    return f"| key | playbook actions |\n|---|---|\n{rows}\n"


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, screen_help: str) -> None:
        super().__init__()
        self.screen_help = screen_help

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(f"{self.screen_help}\n\n{GLOBAL_KEYS}\n{actions_table()}")
