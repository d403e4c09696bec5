"""Asks once per session for the sudo password when the inventory says ansible_become (memory only)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class BecomePasswordScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("The inventory becomes root with sudo (ansible_become). Sudo password:")
            yield Input(password=True, placeholder="empty if sudo asks for none", id="become-password")
            yield Label("Enter to run · Esc to cancel. Kept in memory for this session only.", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
