"""RunGridTable: a services RunGrid drawn as play → task rows × host columns, updated in place."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

STATUS_STYLES = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "unreachable": "bold magenta",
    "skipped": "cyan",
    "running": "dim",
}
TASK_WIDTH = 30


def cell_text(cell) -> Text:
    if cell is None:
        return Text("")
    label = "ignored" if cell.result is not None and cell.result.ignored else cell.status
    duration = f" {cell.duration:.1f}s" if cell.duration is not None else ""
    return Text(
        label + duration, style="dim red" if label == "ignored" else STATUS_STYLES.get(cell.status, "")
    )


class RunGridTable(DataTable):
    """Rows are keyed by task id (play rows by "play:<id>"), columns by host name."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="cell", zebra_stripes=False)
        self._shown: dict[tuple[str, str], tuple] = {}  # (task_id, host) -> what the cell shows now

    def on_mount(self) -> None:
        self.add_column("Play / task", key="task", width=TASK_WIDTH)

    def sync(self, grid) -> None:
        """Bring the table up to date with `grid` (cheap when little changed).

        A live grid grows on the runner's thread meanwhile: a host that appears after `hosts` was read here
        gets its column, and its cells, at the next sync."""
        hosts = grid.hosts
        for host in hosts:
            if host not in self.columns:
                self.add_column(host, key=host, default=Text(""))
        blank = [""] * (len(self.columns) - 1)  # the first column names the task
        for block in grid.plays:
            play_key = f"play:{block.play_id}"
            if play_key not in self.rows:
                self.add_row(Text(f"▶ {block.play}"[:TASK_WIDTH], style="bold"), *blank, key=play_key)
            for row in block.tasks:
                if row.task_id not in self.rows:
                    self.add_row(Text("  " + row.task), *blank, key=row.task_id)
                for host, cell in row.cells.items():
                    if host not in self.columns:
                        continue
                    shown = (cell.status, cell.duration)
                    if self._shown.get((row.task_id, host)) != shown:
                        self._shown[(row.task_id, host)] = shown
                        self.update_cell(row.task_id, host, cell_text(cell))

    def selected(self) -> tuple[str, str] | None:
        """(task_id, host) under the cursor, or None on the task column or a play row."""
        if not self.row_count:
            return None
        keys = self.coordinate_to_cell_key(self.cursor_coordinate)
        task_id, host = keys.row_key.value, keys.column_key.value
        if host == "task" or task_id.startswith("play:"):
            return None
        return task_id, host
