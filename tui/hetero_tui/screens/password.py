"""Asks once per session for the become password when the inventory says ansible_become (memory only)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class BecomePasswordScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, method: str = "sudo") -> None:
        super().__init__()
        self.method = method  # ansible_become_method: sudo (Ansible's default), su, ...

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                f"The inventory becomes root with {self.method} (ansible_become). {self.method} password:"
            )
            yield Input(
                password=True, placeholder=f"empty if {self.method} asks for none", id="become-password"
            )
            yield Label("Enter to run · Esc to cancel. Kept in memory for this session only.", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
