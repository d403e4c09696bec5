"""Past runs kept under artifacts/: newest first; Enter reopens one in the run grid."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Static

from hetero_tui.screens.base import HeteroScreen
from hetero_tui.services.history import past_runs

STATUS_STYLE = {"successful": "green", "failed": "red", "canceled": "yellow", "error": "red"}


class HistoryScreen(HeteroScreen):
    HELP = "## Past runs\n`Enter` reopens the selected run (grid, results, raw output)."

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"runs kept in {self.app.artifacts}", id="run-title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Started", "Action", "Status", "Inventory")
        self.runs = {run.ident: run for run in past_runs(self.app.artifacts)}
        for run in self.runs.values():
            started = run.started.strftime("%m-%d %H:%M:%S") if run.started else "?"
            table.add_row(
                started,
                run.action,
                Text(run.status, style=STATUS_STYLE.get(run.status, "dim")),
                run.inventory.rsplit("/", 2)[-2:][-1] if run.inventory else "",
                key=run.ident,
            )
        if not self.runs:
            self.query_one("#run-title", Static).update(f"no runs kept in {self.app.artifacts} yet")
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_past_run(self.runs[event.row_key.value])
