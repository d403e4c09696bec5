"""Every rank's container log: one merged view, a tab per rank; follow, filter, time, wrap, raw, save."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.validation import ValidationResult, Validator
from textual.widgets import Footer, Header, Input, Static, Tab, Tabs

from hetero_tui.screens.base import HeteroScreen
from hetero_tui.services.logbuffer import compile_filter, save_lines
from hetero_tui.widgets.log_view import LogView, rank_colour

ALL_TAB = "rank-all"


class FilterValidator(Validator):
    """The filter must compile; otherwise the services' one-line message."""

    def validate(self, value: str) -> ValidationResult:
        try:
            compile_filter(value)
        except ValueError as err:
            return self.failure(str(err))
        return self.success()


class LogsScreen(HeteroScreen):
    HELP = """\
## Logs (keys as in k9s)
| key | |
|---|---|
| `/` | regex filter on the text shown (`Enter` apply, empty clears; `Esc` clears it) |
| `s` | follow on/off (scrolling up also stops following; `End` resumes) |
| `t` | timestamps |
| `w` | wrap long lines (otherwise a cut line ends in `…`; `←` `→` scroll) |
| `j` | raw: the trainer's JSON lines as written, instead of one readable line per event |
| `ctrl+s` | save the lines shown to a file, raw (as the containers wrote them) |
| `[` / `]` | previous / next rank tab (any number of ranks; also `shift+tab` / `tab`) |
| `0` | all ranks; `1`..`9` rank 0..8 |

A step reads `step 120 · loss 1.81 · share 95 · 452 samples/s · comm 31%` (comm: the part of the step spent
waiting for and exchanging gradients). A rank whose container finished shows `✓` on its tab and a marked
line `finished (exit 0)`; one that failed, `✗N` and `failed (exit N): ` with its last line. One that
restarted shows `↻N` (Docker's restart count) and a marked line where its log stream ended and came back.
"""

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "toggle_follow", "Follow"),
        Binding("t", "toggle('timestamps')", "Time"),
        Binding("w", "toggle('wrap')", "Wrap"),
        Binding("j", "toggle('raw')", "Raw"),
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "back", "Back"),
        *[Binding(str(n), f"rank({n - 1})", show=False) for n in range(1, 10)],
        Binding("0", "rank(-1)", show=False),
        Binding("right_square_bracket,tab", "next_tab", show=False),
        Binding("left_square_bracket,shift+tab", "previous_tab", show=False),
    ]

    def compose(self) -> ComposeResult:
        self._tabbed: set[int] = set()  # ranks that have a tab
        yield Header()
        yield Tabs(Tab("all ranks", id=ALL_TAB), id="rank-tabs")
        yield LogView(self.app.logs.buffer, id="log-view")
        yield Static("", id="log-status")
        yield Input(
            placeholder="regex filter, Enter to apply", id="log-filter", validators=[FilterValidator()]
        )
        yield Footer()

    def on_mount(self) -> None:
        view = self.query_one(LogView)
        view.catch_up()
        self._ensure_tabs(self.app.logs.buffer.ranks)
        view.focus()
        self.set_interval(0.25, self.refresh_status)
        self.refresh_status()

    # ---- fed by the app ----------------------------------------------------------------------------------
    def add_lines(self, lines) -> None:
        """A batch of new lines is in the buffer: a tab for each new rank, then the view takes them in."""
        try:
            view = self.query_one(LogView)
        except NoMatches:  # the app is closing: the view is gone
            return
        self._ensure_tabs({line.rank for line in lines})
        view.catch_up()

    def _ensure_tabs(self, ranks) -> None:
        new = set(ranks) - self._tabbed  # most batches bring no new rank: no DOM query then
        if not new:
            return
        tabs = self.query_one(Tabs)
        for rank in sorted(new):
            tabs.add_tab(Tab(self._tab_label(rank), id=f"rank-{rank}"))
        self._tabbed |= new

    def _tab_label(self, rank: int) -> Text:
        label = Text(f"rank {rank}", style=rank_colour(rank))
        restarts = self.app.logs.restarts(rank)
        if restarts:
            label.append(f" ↻{restarts}", style="bold yellow")
        stream = self.app.logs.streams.get(rank)
        if stream is not None and stream.state == "finished":
            label.append(" ✓", style="bold green")
        elif stream is not None and stream.state == "failed" and stream.end:
            label.append(f" ✗{stream.end.exit_code}", style="bold red")
        return label

    def stream_changed(self, rank: int) -> None:
        """The rank's stream changed state (it may have come back from a restart): relabel its tab."""
        for tab in self.query_one(Tabs).query(f"#rank-{rank}"):
            tab.label = self._tab_label(rank)

    def refresh_status(self) -> None:
        view = self.query_one(LogView)
        status = Text()
        if view.follow:
            status.append("follow ", style="bold green")
        else:
            status.append("paused ", style="bold yellow")
            if view.unseen:
                status.append(f"+{view.unseen} new lines ", style="reverse bold yellow")
        for flag in ("timestamps", "wrap", "raw"):
            if getattr(view, flag):
                status.append(f"{flag[:4]} ", style="bold cyan")
        if view.pattern:
            status.append(f"/{view.pattern}/ ", style="bold")
        status.append(f"{view.matching_count}/{view.line_count} lines ")
        streams = self.app.logs.by_rank()
        for rank, stream in streams:
            state, restarts = stream.state, stream.restarts
            colour = (
                "green"
                if state in ("streaming", "finished")
                else "yellow"
                if state in ("connecting", "waiting")
                else "red"
            )
            ended = state in ("finished", "failed") and stream.end is not None
            shown = f"exit{stream.end.exit_code}" if ended else state[:4]
            status.append(f"r{rank}:{shown}{f'↻{restarts}' if restarts else ''} ", style=colour)
        if not streams:
            status.append("no streams yet", style="dim")
        self.query_one("#log-status", Static).update(status)

    # ---- keys ----------------------------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#log-filter", Input)
        box.value = self.query_one(LogView).pattern
        box.add_class("shown")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.notify(event.validation_result.failure_descriptions[0], severity="error")
            return
        self.query_one(LogView).set_filter(event.value)
        self._close_filter()

    def _close_filter(self) -> None:
        box = self.query_one("#log-filter", Input)
        box.remove_class("shown")
        self.query_one(LogView).focus()
        self.refresh_status()

    def action_back(self) -> None:
        view = self.query_one(LogView)
        if self.query_one("#log-filter", Input).has_class("shown"):
            self._close_filter()
        elif view.pattern:
            view.set_filter("")
            self.refresh_status()
        else:
            super().action_back()

    def action_toggle_follow(self) -> None:
        view = self.query_one(LogView)
        view.follow = not view.follow
        self.refresh_status()

    def action_toggle(self, name: str) -> None:
        view = self.query_one(LogView)
        setattr(view, name, not getattr(view, name))
        self.refresh_status()

    def action_rank(self, rank: int) -> None:
        tab_id = ALL_TAB if rank < 0 else f"rank-{rank}"
        tabs = self.query_one(Tabs)
        if tabs.query(f"#{tab_id}"):
            tabs.active = tab_id
        else:
            self.notify(f"no lines from rank {rank} yet", severity="warning")

    def action_next_tab(self) -> None:
        self.query_one(Tabs).action_next_tab()

    def action_previous_tab(self) -> None:
        self.query_one(Tabs).action_previous_tab()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        tab_id = event.tab.id or ALL_TAB
        rank = None if tab_id == ALL_TAB else int(tab_id.removeprefix("rank-"))
        self.query_one(LogView).set_filter(rank=rank)
        self.query_one(LogView).focus()
        self.refresh_status()

    def action_save(self) -> None:
        """The lines the view shows (this tab, this filter), written raw: what a bug report wants."""
        path = self.app.save_dir / time.strftime("hetero-logs-%Y%m%d-%H%M%S.txt")
        count = save_lines(path, self.query_one(LogView).shown_lines())
        self.notify(f"saved {count} lines to {path} (raw)", timeout=6)
