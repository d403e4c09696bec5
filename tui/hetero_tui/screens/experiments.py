"""The collected experiments side by side (services/experiments.py): final loss, samples/s, ranks, sync mode,
date; read again each time the screen shows (a Collect may have brought a new one)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Static

from hetero_tui import cli
from hetero_tui.screens.base import HeteroScreen
from hetero_tui.services.experiments import rows

COLUMNS = ("Experiment", "Started (UTC)", "Ranks", "Sync", "Steps", "Loss", "Samples/s")
TENSORBOARD_HINT = Text.assemble(
    "TensorBoard: ",
    ("hetero-report --tensorboard DIR", "bold"),
    ", then ",
    ("tensorboard --logdir DIR", "bold"),
)


class ExperimentsScreen(HeteroScreen):
    HELP = """\
## Experiments
Every experiment collected into the experiments folder (`C` Collect brings the current one), newest first:
when it started, its ranks at the end ("2 of 3": the planner left one out), the sync mode, the steps, the
final loss and the cluster's samples/s at the end, as `hetero-report` computes them.

To compare their curves per rank: `hetero-report --tensorboard DIR`, then `tensorboard --logdir DIR`.
"""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-title")
        yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
        yield Static(TENSORBOARD_HINT, id="experiments-hint")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.refresh_rows()
        table.focus()

    def on_screen_resume(self) -> None:
        self.refresh_rows()

    def refresh_rows(self) -> None:
        folder = self.app.experiments_dir
        found = rows(folder)
        table = self.query_one(DataTable)
        table.clear()
        for row in found:
            if row.problem:
                table.add_row(row.name, Text(row.problem, style="red"), *[""] * 5, key=str(row.path))
                continue
            loss = f"{row.loss:.4f}" if row.loss is not None else "-"
            speed = f"{row.samples_per_s:.1f}" if row.samples_per_s is not None else "-"
            cells = (row.name, row.started or "?", row.ranks, row.sync, str(row.steps), loss, speed)
            table.add_row(*cells, key=str(row.path))
        shown = cli.display_path(folder)
        title = (
            f"{len(found)} collected in {shown}"
            if found
            else f"no experiment collected in {shown} yet: Collect (C) after a training"
        )
        self.query_one("#run-title", Static).update(title)
