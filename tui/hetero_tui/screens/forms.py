"""Modal forms for a host and for the training settings: validated on every keystroke by the services.

Save stays disabled while any field is wrong; each wrong field shows the services' one-line message below it.
The form returns the typed fields; the inventory screen applies and saves them (nothing is written when the
services refuse).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from hetero_tui.services.host_form import HOST_FIELDS
from hetero_tui.services.settings_form import CHOICES, SETTINGS_FIELDS, validate_settings

HOST_LABELS = {
    "name": "Name (inventory name)",
    "ansible_host": "Address (ansible_host)",
    "ansible_user": "SSH user (empty: default)",
    "ansible_port": "SSH port (empty: 22)",
    "hetero_ranks": "Ranks (empty: GPUs, or 1)",
    "hetero_rank": "First rank (empty: in order)",
}


def _field_id(name: str) -> str:
    return f"f-{name}"


class FieldForm(ModalScreen[dict[str, str] | None]):
    """A column of labelled fields, each with an error line, and Save/Cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(
        self,
        title: str,
        fields: Mapping[str, str],
        validate: Callable[[dict[str, str]], dict[str, str]],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.form_title = title
        self.initial = dict(fields)
        self.validate = validate
        self.labels = labels or {}
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form"):
            yield Label(self.form_title, classes="form-title")
            for name, value in self.initial.items():
                yield Label(self.labels.get(name, name), classes="field-label")
                if name in CHOICES:
                    # Your own module:callable, set in the inventory, is one of the options: saving the
                    # form keeps it.
                    known = (*CHOICES[name], value) if value and value not in CHOICES[name] else CHOICES[name]
                    options = [(choice, choice) for choice in known]
                    yield Select(
                        options,
                        value=value if value in known else Select.NULL,
                        id=_field_id(name),
                        allow_blank=False,
                    )
                else:
                    yield Input(value=value, id=_field_id(name), type="text")
                yield Static("", classes="field-error", id=f"e-{name}")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#{_field_id(next(iter(self.initial)))}").focus()
        self._revalidate()

    def values(self) -> dict[str, str]:
        out = {}
        for name in self.initial:
            widget = self.query_one(f"#{_field_id(name)}")
            value = widget.value
            out[name] = "" if value is None or value is Select.NULL else str(value)
        return out

    def _revalidate(self) -> None:
        self.errors = self.validate(self.values())
        for name in self.initial:
            message = self.errors.get(name, "")
            self.query_one(f"#e-{name}", Static).update(message)
            self.query_one(f"#{_field_id(name)}").set_class(bool(message), "invalid")
        self.query_one("#save", Button).disabled = bool(self.errors)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._revalidate()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._revalidate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        self._revalidate()
        if self.errors:
            self.app.bell()
            self.notify(next(iter(self.errors.values())), severity="error")
            return
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)


def host_form(inventory, original: str | None) -> FieldForm:
    """Add (original None) or edit a host of `inventory` (a services Inventory)."""
    fields = inventory.host(original).fields() if original else dict.fromkeys(HOST_FIELDS, "")
    title = f"Edit host {original}" if original else "Add a host"
    return FieldForm(
        title, fields, lambda values: inventory.validate_host(values, original=original), HOST_LABELS
    )


def settings_form(inventory) -> FieldForm:
    current = inventory.settings
    fields = {name: "" if current.get(name) is None else str(current.get(name)) for name in SETTINGS_FIELDS}
    labels = {name: name.removeprefix("hetero_").replace("_", " ") for name in SETTINGS_FIELDS}
    return FieldForm("Training settings (group_vars/all.yml)", fields, validate_settings, labels)
