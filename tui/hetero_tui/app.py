"""hetero-tui: the app. It owns the state (inventory, runs, log streams, metrics), routes messages to screens.

Every slow thing happens off the UI thread: playbooks in thread workers, log streams in the services' threads;
both reach the UI only as messages (messages.py).
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from hetero_tui.actions import ACTIONS, BY_ID
from hetero_tui.commands import HeteroCommands
from hetero_tui.messages import (
    HostStatesUpdated,
    LogLinesArrived,
    LogStreamState,
    MetricsUpdated,
    RunEventArrived,
    RunFinished,
)
from hetero_tui.screens.confirm import ConfirmScreen
from hetero_tui.screens.history import HistoryScreen
from hetero_tui.screens.inventory import InventoryScreen
from hetero_tui.screens.logs import LogsScreen
from hetero_tui.screens.metrics import MetricsScreen
from hetero_tui.screens.password import BecomePasswordScreen
from hetero_tui.screens.run import RunScreen
from hetero_tui.services import REPO_ROOT
from hetero_tui.services import runner as runner_service
from hetero_tui.services.events import HostResult
from hetero_tui.services.events import RunFinished as RunFinishedEvent
from hetero_tui.services.history import load_run
from hetero_tui.services.hoststate import HostStates
from hetero_tui.services.inventory import Inventory, InventoryInvalid, default_inventory_path
from hetero_tui.services.logs import HostConnection, LogBuffer, LogLine, LogStream, rank_containers
from hetero_tui.services.metrics import ClusterMetrics
from hetero_tui.services.rungrid import RunGrid


@dataclass
class RunRecord:
    """A run the app shows: live (handle set while it runs) or reopened from artifacts."""

    name: str
    run_id: str
    grid: RunGrid = field(default_factory=RunGrid)
    handle: object | None = None  # services PlaybookRun
    cancelling: bool = False

    @property
    def running(self) -> bool:
        return self.handle is not None and self.grid.status == "running"


class HeteroApp(App):
    TITLE = "hetero-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {HeteroCommands}

    BINDINGS = [
        Binding("q", "quit_app", "Quit"),
        Binding("i", "show('inventory')", "Inventory", show=False),
        Binding("r", "show('run')", "Run"),
        Binding("h", "show('history')", "Past runs", show=False),
        Binding("l", "show('logs')", "Logs"),
        Binding("m", "show('metrics')", "Metrics"),
        *[Binding(a.key, f"run_action('{a.action_id}')", a.name, show=False) for a in ACTIONS],
    ]

    def __init__(
        self,
        inventory_path: Path | None = None,
        *,
        extravars: dict | None = None,
        artifacts: Path | None = None,
        save_dir: Path | None = None,
        log_buffer_lines: int = 20_000,
        follow_containers: bool = True,
    ) -> None:
        super().__init__()
        self.inventory_path = Path(inventory_path or default_inventory_path())
        self.inventory = Inventory.load(self.inventory_path)
        self.extravars = dict(extravars or {})
        self.artifacts = Path(artifacts) if artifacts else runner_service.artifacts_dir()
        self.save_dir = Path(save_dir) if save_dir else Path.cwd()
        self.runs: dict[str, RunRecord] = {}
        self.current_run: RunRecord | None = None
        self._grid_dirty: set[str] = set()
        self._inventory_dirty = False
        self._become_password: str | None = None  # asked once when the inventory says ansible_become
        self.sub_title = display_path(self.inventory_path)
        self.states = HostStates()
        # Logs: stream threads -> pending -> the pump worker -> LogLinesArrived batches -> screens.
        self.log_buffer_lines = log_buffer_lines
        self.follow_containers = (
            follow_containers  # False: lines come only from receive_log_line (tests, bench)
        )
        self.log_buffer = LogBuffer(log_buffer_lines)
        self.log_streams: dict[int, LogStream] = {}
        self.log_states: dict[int, str] = {}
        self.log_restarts: dict[int, int] = {}  # rank -> its container's restart count, when seen to restart
        self.metrics = ClusterMetrics()
        self._pending: list = []
        self._pending_lock = threading.Lock()
        self._pending_event = threading.Event()
        self._stopping = threading.Event()

    def on_mount(self) -> None:
        self.install_screen(LogsScreen(), "logs")  # installed: keeps its view (and scroll) between visits
        self.push_screen(InventoryScreen())
        # Runner events arrive in bursts (one per host per task); redraw grids at most 5 times a second.
        self.set_interval(0.2, self._refresh_dirty_grids)
        self.run_worker(self._pump_logs, thread=True, group="logs", name="log pump", exit_on_error=False)

    def on_unmount(self) -> None:
        self._stopping.set()
        self._pending_event.set()
        for stream in self.log_streams.values():
            stream.stop(timeout=1)

    # ---- navigation ------------------------------------------------------------------------------
    def action_show(self, name: str) -> None:
        self.show(name)

    def show(self, name: str) -> None:
        """Bring a view to the front: the same view is never stacked twice (the stack stays short)."""
        if name == "inventory":
            while len(self.screen_stack) > 2:
                self.pop_screen()
        elif name == "settings":
            self.show("inventory")
            self.screen.action_settings()
        elif name == "run":
            if self.current_run is None:
                self.notify("no run yet: start an action (p Preflight, s Status, ...) or open a past run (h)")
            elif not (isinstance(self.screen, RunScreen) and self.screen.run is self.current_run):
                self.push_screen(RunScreen(self.current_run))
        elif name == "logs":
            self.ensure_log_streams()
            logs = self.get_screen("logs")
            if logs in self.screen_stack:
                while self.screen is not logs:
                    self.pop_screen()
            else:
                self.push_screen(logs)
        else:
            kind = {"history": HistoryScreen, "metrics": MetricsScreen}[name]
            if name == "metrics":
                self.ensure_log_streams()
            if not isinstance(self.screen, kind):
                self.push_screen(kind())

    def action_quit_app(self) -> None:
        running = [run for run in self.runs.values() if run.running]
        if not running:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                for run in running:
                    run.handle.cancel()
                self.exit()

        self.push_screen(
            ConfirmScreen(f"{running[0].name} is still running. Cancel it and quit?", "Quit"), answered
        )

    # ---- inventory -------------------------------------------------------------------------------
    def save_inventory(self, errors: dict[str, str]) -> bool:
        """Write the edited inventory; on any error write nothing, reload the files, and say what is wrong."""
        if not errors:
            try:
                written = self.inventory.save()
            except InventoryInvalid as invalid:
                errors = invalid.errors
            else:
                names = ", ".join(path.name for path in written) or "nothing changed"
                self.notify(f"saved: {names}")
        if errors:
            self.inventory = Inventory.load(self.inventory_path)
            self.notify(next(iter(errors.values())), title="not saved", severity="error", timeout=8)
        self.refresh_inventory()
        return not errors

    def refresh_inventory(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, InventoryScreen):
                screen.refresh_hosts()

    def host_states(self) -> dict:
        return self.states.hosts

    def on_host_states_updated(self, message: HostStatesUpdated) -> None:
        self.refresh_inventory()

    # ---- playbook runs ---------------------------------------------------------------------------
    def action_run_action(self, action_id: str) -> None:
        self.start_action(action_id)

    def start_action(self, action_id: str) -> RunRecord | None:
        """Start a playbook in a thread worker and show its grid; refuse while another run is going."""
        busy = next((run for run in self.runs.values() if run.running), None)
        if busy is not None:
            self.notify(f"{busy.name} is still running: wait, or cancel it (r, then c)", severity="warning")
            return None
        action = BY_ID[action_id]
        method = self._become_method_asking()
        if self._become_password is None and method:

            def answered(password: str | None) -> None:
                if password is not None:
                    self._become_password = password
                    self.start_action(action_id)

            self.push_screen(BecomePasswordScreen(method), answered)
            return None
        handle = runner_service.PlaybookRun(
            action_id,
            self.inventory_path,
            extravars=self.extravars,
            artifacts=self.artifacts,
            become_password=self._become_password or None,  # "" = sudo needs none: no prompt to answer
        )
        record = RunRecord(action.name, handle.ident, handle=handle)
        handle.on_event = lambda event: self.post_message(RunEventArrived(record.run_id, event))
        self.runs[record.run_id] = record
        self.current_run = record
        self.run_worker(
            handle.run,  # blocking: ansible-runner runs on this worker's thread
            thread=True,
            group="playbooks",
            name=action.name,
            exit_on_error=False,
        )
        self.push_screen(RunScreen(record))
        return record

    def _become_method_asking(self) -> str | None:
        """The become method (sudo, su...) of the first host that becomes root with no password in the
        inventory; None when no host needs one asked."""
        for host in self.inventory.hosts:
            hostvars = self.inventory.host_vars(host.name)
            become = str(hostvars.get("ansible_become", "")).lower() in ("true", "yes", "1")
            known = hostvars.get("ansible_become_password") or hostvars.get("ansible_become_pass")
            if become and not known:
                return str(hostvars.get("ansible_become_method") or "sudo")
        return None

    def cancel_run(self, record: RunRecord) -> None:
        if record.running:
            record.cancelling = True
            record.handle.cancel()
            self._grid_dirty.add(record.run_id)

    def on_run_event_arrived(self, message: RunEventArrived) -> None:
        record = self.runs.get(message.run_id)
        if record is None:
            return
        record.grid.apply(message.event)
        self._grid_dirty.add(record.run_id)
        if isinstance(message.event, HostResult):
            self.states.apply(message.event)
            self._inventory_dirty = True
        if isinstance(message.event, RunFinishedEvent):
            event = message.event
            self.post_message(RunFinished(record.run_id, event.status, event.rc, getattr(event, "error", "")))

    def on_run_finished(self, message: RunFinished) -> None:
        record = self.runs[message.run_id]
        record.cancelling = False
        self._refresh_dirty_grids()
        severity = "information" if message.status == "successful" else "error"
        why = f": {message.error}" if message.error else ""
        self.notify(f"{record.name}: {message.status} (rc={message.rc}){why}", severity=severity, timeout=6)
        self.refresh_inventory()
        if record.name == "Launch" or record.name == "Up":
            self.ensure_log_streams()  # new containers: follow every rank the facts name

    def open_past_run(self, past) -> None:
        record = RunRecord(f"{past.action} ({past.ident[:15]})", past.ident, grid=load_run(past.path))
        self.runs[record.run_id] = record
        self.push_screen(RunScreen(record))

    # ---- log streams and metrics -----------------------------------------------------------------
    def ensure_log_streams(self) -> None:
        """Follow every rank container not followed yet (placed by facts, else by asking each Docker)."""
        if not self.follow_containers:
            return
        self.run_worker(
            self._start_streams, thread=True, group="log-start", exclusive=True, exit_on_error=False
        )

    def _start_streams(self) -> None:
        places = rank_containers(self.inventory, self.states.rank_facts() or None)
        for rank, place in places.items():
            if rank in self.log_streams:
                continue
            conn = HostConnection.from_vars(place.host, self.inventory.host_vars(place.host))
            stream = LogStream(
                conn,
                rank,
                self.receive_log_line,
                container=place.container,
                on_state=lambda state, why, rank=rank: self._stream_state(rank, state, why),
            )
            self.log_streams[rank] = stream
            stream.start()
        if not places:
            self.call_from_thread(self.notify, "no rank containers found on any host", severity="warning")

    def _stream_state(self, rank: int, state: str, why: str) -> None:
        """On a stream's thread: tell the UI, and when a stream ends or comes back, say so in the log itself.
        The marker goes through the same queue as the lines, so it lands between the old and the new ones."""
        stream = self.log_streams[rank]
        note = None
        if state == "waiting" and stream.previous_state == "streaming":
            reason = "" if why in ("", "stream ended") else f" ({why})"
            note = f"── log stream ended{reason}: the container stopped or restarted; reconnecting ──"
        elif state == "streaming" and stream.streamed > 1:
            note = f"── log stream back{f', {why}' if why else ''} ──"
        if note:
            self.receive_log_line(LogLine(rank, utc_stamp(), note, stream.conn.name, marker=True))
        self.post_message(LogStreamState(rank, state, stream.restarts))

    def receive_log_line(self, line) -> None:
        """Called on a stream's thread for every line: keep it, and queue it for the pump."""
        self.log_buffer.append(line)
        with self._pending_lock:
            self._pending.append(line)
            first = len(self._pending) == 1
        if first:  # waking the pump once per batch, not once per line (8,000 lines/s under load)
            self._pending_event.set()

    def _pump_logs(self) -> None:
        """Thread worker: hand queued lines to the UI in batches, at most 20 messages a second."""
        while not self._stopping.is_set():
            self._pending_event.wait()
            self._stopping.wait(0.05)  # let a burst gather into one batch
            with self._pending_lock:
                batch, self._pending = self._pending, []
                self._pending_event.clear()
            if batch:
                self.post_message(LogLinesArrived(batch))

    def on_log_lines_arrived(self, message: LogLinesArrived) -> None:
        stepped = False
        for line in message.lines:
            if not line.marker and self.metrics.feed_line(line.text, line.rank) is not None:
                stepped = True
        logs = self.get_screen("logs")
        if logs.is_mounted and not self._stopping.is_set():
            logs.add_lines(message.lines)
        if stepped:
            self.post_message(MetricsUpdated())

    def on_metrics_updated(self, message: MetricsUpdated) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MetricsScreen):
                screen.refresh_metrics()

    def on_log_stream_state(self, message: LogStreamState) -> None:
        self.log_states[message.rank] = message.state
        if message.restarts and message.restarts != self.log_restarts.get(message.rank):
            self.log_restarts[message.rank] = message.restarts
            logs = self.get_screen("logs")
            if logs.is_mounted:
                logs.show_restarts(message.rank, message.restarts)

    def _refresh_dirty_grids(self) -> None:
        if self._inventory_dirty:  # host states learnt from the running action show up as they arrive
            self._inventory_dirty = False
            self.refresh_inventory()
        if not self._grid_dirty:
            return
        dirty, self._grid_dirty = self._grid_dirty, set()
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen) and screen.run.run_id in dirty:
                screen.refresh_grid()


def utc_stamp() -> str:
    """Now, in the form docker logs --timestamps uses (so a marker sorts and saves like a log line)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def display_path(path: Path) -> str:
    """A path as the user thinks of it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def parse_extravars(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"-e {pair!r}: write name=value, e.g. -e hetero_max_steps=5")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hetero-tui", description="The control room of a hetero-cluster.")
    parser.add_argument(
        "-i",
        "--inventory",
        type=Path,
        help="inventory file (default: inventory/hosts.yml, or inventory/local.yml when hosts.yml is absent)",
    )
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="passed to every playbook run, like ansible-playbook -e (repeatable)",
    )
    parser.add_argument("--artifacts", type=Path, help="where runs are kept (default: <repo>/artifacts)")
    args = parser.parse_args(argv)
    inventory = args.inventory or default_inventory_path()
    if not inventory.is_file():
        print(f"hetero-tui: inventory {inventory} not found; pass an existing file with -i", file=sys.stderr)
        return 2
    try:
        extravars = parse_extravars(args.extra_vars)
    except ValueError as err:
        print(f"hetero-tui: {err}", file=sys.stderr)
        return 2
    HeteroApp(inventory, extravars=extravars, artifacts=args.artifacts).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
