"""The live grid of one playbook run; the whole result of a cell; the raw output; past runs."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Log, Static

from hetero_tui.screens.base import HeteroScreen
from hetero_tui.screens.confirm import ConfirmScreen
from hetero_tui.widgets.run_grid import STATUS_STYLES, RunGridTable


def counts_text(grid) -> Text:
    text = Text()
    for status in ("ok", "changed", "failed", "unreachable", "skipped"):
        text.append(f"{status}={grid.counts().get(status, 0)} ", style=STATUS_STYLES[status])
    return text


class RunScreen(HeteroScreen):
    """One run (live or reopened): the grid refreshes while the run's events arrive."""

    HELP = """\
## Run
| key | |
|---|---|
| `Enter` | the whole result of the selected cell |
| `n` | jump to the next failed cell |
| `o` | raw output |
| `c` | cancel the running action (asks first) |
"""

    BINDINGS = [
        Binding("o", "raw", "Raw output"),
        Binding("n", "next_failed", "Next failed"),
        Binding("c", "cancel_run", "Cancel run"),
    ]

    def __init__(self, run) -> None:
        super().__init__()
        self.run = run  # a services.runs RunRecord: name, run_id, grid, running

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-title")
        yield RunGridTable(id="grid")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_grid()
        self.query_one(RunGridTable).focus()

    def refresh_grid(self) -> None:
        grid = self.run.grid
        self.query_one(RunGridTable).sync(grid)
        status = grid.status if not self.run.cancelling else "cancelling"
        style = {"successful": "bold green", "running": "bold yellow"}.get(status, "bold red")
        title = Text.assemble((f"{self.run.name} ", "bold"), (status, style), "  ", counts_text(grid))
        self.query_one("#run-title", Static).update(title)
        for screen in self.app.screen_stack:
            if isinstance(screen, RawOutputScreen) and screen.run is self.run:
                screen.refresh_output()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        selected = self.query_one(RunGridTable).selected()
        if selected is None:
            return
        cell = self.run.grid.cell(*selected)
        if cell is not None and cell.result is not None:
            self.app.push_screen(ResultScreen(cell.result))

    def action_next_failed(self) -> None:
        table = self.query_one(RunGridTable)
        failed = [(r.task_id, r.host) for r in self.run.grid.failed()]
        if not failed:
            self.notify("no failed cell")
            return
        current = table.selected()
        after = failed[(failed.index(current) + 1) % len(failed)] if current in failed else failed[0]
        row = table.get_row_index(after[0])
        column = table.get_column_index(after[1])
        table.move_cursor(row=row, column=column)

    def action_raw(self) -> None:
        self.app.push_screen(RawOutputScreen(self.run))

    def action_cancel_run(self) -> None:
        if not self.run.running:
            self.notify(f"{self.run.name} is not running")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.cancel_run(self.run)

        self.app.push_screen(
            ConfirmScreen(f"Cancel {self.run.name}? Hosts may be left half-done.", "Cancel run"), answered
        )


class ResultScreen(ModalScreen[None]):
    """Everything Ansible said about one host's task (secrets already removed by the services)."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, result) -> None:
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        result = self.result
        head = Text.assemble(
            (f"{result.host}  ", "bold"),
            (result.status, STATUS_STYLES.get(result.status, "")),
            f"  {result.task}",
        )
        with VerticalScroll(classes="dialog result"):
            yield Static(head)
            if result.message:
                yield Static(Text(result.message, style="bold"))
            yield Static(
                Text(json.dumps(result.result, indent=2, sort_keys=True, default=str)), id="result-json"
            )


class RawOutputScreen(HeteroScreen):
    """ansible-playbook's own output of the run, as it would print in a terminal."""

    HELP = "## Raw output\nThe run's stdout, as `ansible-playbook` prints it. `Esc` back to the grid."

    def __init__(self, run) -> None:
        super().__init__()
        self.run = run
        self._written = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Log(id="raw", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_output()
        self.query_one(Log).focus()

    def refresh_output(self) -> None:
        new = self.run.grid.output[self._written :]  # a live run appends on its own thread meanwhile
        if new:
            self.query_one(Log).write_lines(line for text in new for line in text.splitlines())
            self._written += len(new)
