"""LogView: the merged rank log (services LogLine: rank, ts, text), drawn with Textual's line API.

The trainer's JSON events show as one readable line each (services/logtext.py); `raw` shows the lines as the
containers wrote them. The filter matches the text shown. A line wider than the view ends in "…" (scroll right
or turn `wrap` on to read the rest).

Only the rows on screen are turned into text, so 8,000 lines/s cost what the visible 20 rows cost. The lines
themselves stay in the services' LogBuffer (kept once); the view keeps only their numbers: a deque of the
lines that pass the filter, and one of (number, first column) display rows. Both forget a line once the
buffer has dropped it, so they are bounded by the buffer's limit.
"""

from __future__ import annotations

import re
from collections import deque

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hetero_tui.services.logbuffer import LogBuffer, LogLine, compile_filter
from hetero_tui.services.logtext import readable

# One colour per rank, cycling; picked to stay readable on dark and light themes.
RANK_COLOURS = ["cyan", "magenta", "green", "yellow", "bright_blue", "bright_red", "bright_cyan", "orange3"]
MATCH_STYLE = Style(bgcolor="yellow", color="black", bold=True)
# The TUI's own notes in the log (a stream ended, came back).
MARKER_STYLE = Style(color="yellow", bold=True, italic=True)
CUT = "…"  # ends a line cut at the view's right edge


def rank_colour(rank: int) -> str:
    return RANK_COLOURS[rank % len(RANK_COLOURS)]


class LogView(ScrollView, can_focus=True):
    """Merged, filterable, optionally wrapped view of rank log lines."""

    DEFAULT_CSS = """
    LogView { background: $surface; }
    """

    follow: reactive[bool] = reactive(True)
    wrap: reactive[bool] = reactive(False)
    timestamps: reactive[bool] = reactive(False)
    raw: reactive[bool] = reactive(False)  # the lines as written (JSON) instead of their readable form

    def __init__(self, buffer: LogBuffer, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.buffer = buffer
        self._first_seq = 0  # the buffer's oldest line as of the last catch_up
        self._next_seq = 0  # the first line not taken in yet
        self._matching: deque[int] = deque()  # sequence numbers passing rank + regex filters
        self._rows: deque[tuple[int, int]] = deque()  # display rows: (sequence, start column)
        self._pattern: re.Pattern[str] | None = None
        self._rank: int | None = None  # None: every rank
        self._width = 0
        self._last_drawn_seq = -1
        self.unseen = 0  # lines that arrived while follow was off (the "+N new lines" badge)
        self.last_drawn: LogLine | None = None  # the newest line drawn so far (the lag benchmark reads it)

    # ---- feeding ---------------------------------------------------------------------------------
    @property
    def line_count(self) -> int:
        return self._next_seq - self._first_seq

    @property
    def newest(self) -> LogLine | None:
        """The newest line taken in (the lag benchmark reads it)."""
        return self.buffer.line(self._next_seq - 1)

    @property
    def matching_count(self) -> int:
        return len(self._matching)

    def catch_up(self) -> None:
        """Take in the buffer's new lines (on the UI thread), forget the ones it dropped, keep the view where
        it is."""
        added = self._take_new()
        first = self.buffer.first_seq
        dropped = first > self._first_seq
        if dropped:
            self._first_seq = first
            self._forget_before(first)
        if not added and not dropped:
            return
        if not self.follow:
            self.unseen += added
        self._resize()
        if self.follow:
            self._stick_to_end()
        self.refresh()

    def _stick_to_end(self) -> None:
        # force: the scrollbars learn the new virtual size only at the next refresh, and until then a plain
        # scroll_end() would be refused as "cannot scroll".
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def _take_new(self, upto: int | None = None) -> int:
        """Index the lines that arrived since the last call (those before line `upto` only, when given);
        returns how many pass the filter."""
        start, rows = self.buffer.since(self._next_seq)  # later than asked: some were dropped unseen
        if upto is not None:
            rows = rows[: max(0, upto - start)]
        added = 0
        for offset, row in enumerate(rows):
            if self._passes(row):
                self._matching.append(start + offset)
                self._append_display_rows(start + offset, row)
                added += 1
        self._next_seq = start + len(rows)
        return added

    # ---- filtering -------------------------------------------------------------------------------
    @property
    def rank(self) -> int | None:
        return self._rank

    @property
    def pattern(self) -> str:
        return self._pattern.pattern if self._pattern else ""

    def set_filter(self, pattern: str | None = None, rank: int | None = -1) -> None:
        """Show only lines matching `pattern` (a regex; ValueError naming the problem) and/or one rank."""
        if pattern is not None:
            self._pattern = compile_filter(pattern)
        if rank != -1:
            self._rank = rank
        self._rebuild()

    def _passes(self, row: LogLine) -> bool:
        if self._rank is not None and row.rank != self._rank:
            return False
        return self._pattern is None or self._pattern.search(self.shown_text(row)) is not None

    def shown_lines(self) -> list[LogLine]:
        """The lines that pass the rank and regex filters, oldest first (what a save writes, raw)."""
        lines = (self.buffer.line(seq) for seq in list(self._matching))
        return [line for line in lines if line is not None]

    # ---- display rows ----------------------------------------------------------------------------
    def _prefix(self, row: LogLine) -> str:
        stamp = f"{row.ts[11:23]:<12} " if self.timestamps else ""  # HH:MM:SS.mmm of docker's UTC stamp
        return f"{stamp}[{row.rank}] "

    def shown_text(self, row: LogLine) -> str:
        """The line's text as shown: readable (a trainer event in short) unless `raw`; markers as they are."""
        return row.text if self.raw or row.marker else readable(row.text)

    def _plain(self, row: LogLine) -> str:
        return self._prefix(row) + self.shown_text(row)

    def _append_display_rows(self, seq: int, row: LogLine) -> None:
        length = cell_len(self._plain(row))
        self._width = max(self._width, length)
        width = self.scrollable_content_region.width if self.wrap else 0
        if width <= 0:
            self._rows.append((seq, 0))
            return
        for start in range(0, max(length, 1), width):
            self._rows.append((seq, start))

    def _forget_before(self, seq: int) -> None:
        while self._matching and self._matching[0] < seq:
            self._matching.popleft()
        removed = 0
        while self._rows and self._rows[0][0] < seq:
            self._rows.popleft()
            removed += 1
        if removed and not self.follow:
            # Keep the same lines on screen while old ones fall off the top.
            self.scroll_to(y=max(0, self.scroll_y - removed), animate=False, immediate=True, force=True)

    def _rebuild(self) -> None:
        self._matching.clear()
        self._rows.clear()
        self._width = 0
        taken = self._next_seq  # lines the view had not taken in yet come with the next catch_up, as new
        self._first_seq = self._next_seq = self.buffer.first_seq
        self._take_new(upto=taken)
        self._resize()
        if self.follow:
            self._stick_to_end()
        self.refresh()

    def _resize(self) -> None:
        width = self.scrollable_content_region.width if self.wrap else self._width
        self.virtual_size = Size(max(width, 1), len(self._rows))

    # ---- toggles ---------------------------------------------------------------------------------
    def watch_wrap(self) -> None:
        self._rebuild()

    def watch_timestamps(self) -> None:
        self._rebuild()

    def watch_raw(self) -> None:
        self._rebuild()

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.unseen = 0
            self._stick_to_end()

    def on_resize(self) -> None:
        if self.wrap:
            self._rebuild()

    # ---- scrolling by the user turns follow off, End turns it back on (like `less +F`) -----------
    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self.follow = True
        super().action_scroll_end()

    def on_mouse_scroll_up(self) -> None:
        self.follow = False

    # ---- rendering -------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        seq, start = self._rows[index]
        row = self.buffer.line(seq)
        if row is None:  # dropped by the buffer since the last catch_up
            return Strip.blank(width, self.rich_style)
        if self.last_drawn is None or seq >= self._last_drawn_seq:
            self.last_drawn, self._last_drawn_seq = row, seq
        strip = Strip(self._segments(row))
        left = start if self.wrap else scroll_x
        shown = strip.crop_extend(left, left + width, self.rich_style)
        if not self.wrap and width > 1 and strip.cell_length > left + width:  # cut: say there is more
            shown = Strip([*shown.crop(0, width - 1), Segment(CUT, self.rich_style + Style(dim=True))], width)
        return shown

    def _segments(self, row: LogLine) -> list[Segment]:
        """The line as styled segments: rank-coloured prefix, then the text with filter matches marked."""
        base = self.rich_style
        segments = [Segment(self._prefix(row), base + Style(color=rank_colour(row.rank), bold=True))]
        if row.marker:
            base = base + MARKER_STYLE
        text, position = self.shown_text(row), 0
        if self._pattern is not None:
            for match in self._pattern.finditer(text):
                if match.end() > match.start():
                    segments.append(Segment(text[position : match.start()], base))
                    segments.append(Segment(match.group(), base + MATCH_STYLE))
                    position = match.end()
        segments.append(Segment(text[position:], base))
        return segments
