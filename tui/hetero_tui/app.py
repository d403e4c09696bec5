"""hetero-tui: the app. It shows the screens and wires the services' state to them; the state itself lives in
the services (inventory, runs, log feed, host states, metrics).

Every slow thing happens off the UI thread: playbooks in thread workers, log streams in the services' threads;
both reach the UI only as messages (messages.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from hetero_tui import cli
from hetero_tui.actions import ACTIONS, BY_ID
from hetero_tui.commands import HeteroCommands
from hetero_tui.messages import (
    HostStatesUpdated,
    HostStatsArrived,
    LogLinesArrived,
    LogStreamState,
    MetricsUpdated,
    RunEventArrived,
)
from hetero_tui.screens.confirm import ConfirmScreen
from hetero_tui.screens.experiments import ExperimentsScreen
from hetero_tui.screens.history import HistoryScreen
from hetero_tui.screens.inventory import InventoryScreen
from hetero_tui.screens.logs import LogsScreen
from hetero_tui.screens.metrics import MetricsScreen
from hetero_tui.screens.password import BecomePasswordScreen
from hetero_tui.screens.run import RunScreen
from hetero_tui.services import REPO_ROOT, first_start
from hetero_tui.services import runner as runner_service
from hetero_tui.services.events import HostResult, RunFinished
from hetero_tui.services.hoststate import HostStates
from hetero_tui.services.hoststats import HostStatsFeed
from hetero_tui.services.inventory import Inventory, InventoryInvalid, default_inventory_path
from hetero_tui.services.logfeed import LogFeed
from hetero_tui.services.metrics import ClusterMetrics
from hetero_tui.services.runs import RunRecord, Runs, become_method_to_ask
from hetero_tui.views import KEYED

# The views shown by pushing a fresh screen (the others are special: see show()).
PLAIN_SCREENS = {"history": HistoryScreen, "metrics": MetricsScreen, "experiments": ExperimentsScreen}


class HeteroApp(App):
    TITLE = "hetero-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {HeteroCommands}

    BINDINGS = [
        Binding("q", "quit_app", "Quit"),
        *[Binding(v.key, f"show('{v.name}')", v.key_label, show=v.footer) for v in KEYED],
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
        # where Collect brings experiments back (collect.yml's default, or the -e that moves it)
        self.experiments_dir = Path(self.extravars.get("hetero_collect_dir") or REPO_ROOT / "experiments")
        self.sub_title = cli.display_path(self.inventory_path)
        self.runs = Runs()
        self.states = HostStates()
        self.metrics = ClusterMetrics()
        # stream threads -> the feed's buffer and pump -> LogLinesArrived batches -> metrics, the logs screen
        self.logs = LogFeed(
            log_buffer_lines,
            on_batch=lambda lines: self.post_message(LogLinesArrived(lines)),
            on_state=lambda rank: self.post_message(LogStreamState(rank)),
        )
        # every rank's host sampled over the same SSH (CPU, memory, GPU) while its logs are followed
        self.hoststats = HostStatsFeed(on_stats=lambda host: self.post_message(HostStatsArrived(host)))
        self.follow_containers = follow_containers  # False: lines come only from logs.receive (tests, bench)
        self._become_password: str | None = None  # asked once when the inventory says ansible_become
        self._grid_dirty: set[str] = set()
        self._inventory_dirty = False

    def on_mount(self) -> None:
        self.install_screen(LogsScreen(), "logs")  # installed: keeps its view (and scroll) between visits
        self.push_screen(InventoryScreen())
        # Runner events arrive in bursts (one per host per task); redraw grids at most 5 times a second.
        self.set_interval(0.2, self._refresh_dirty_grids)
        self.run_worker(self.logs.pump, thread=True, group="logs", name="log pump", exit_on_error=False)

    def on_unmount(self) -> None:
        self.logs.stop(timeout=1)
        self.hoststats.stop(timeout=1)

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
            current = self.runs.current
            if current is None:
                self.notify("no run yet: start an action (p Preflight, s Status, ...) or open a past run (h)")
            elif not (isinstance(self.screen, RunScreen) and self.screen.run is current):
                self.push_screen(RunScreen(current))
        elif name == "logs":
            self.ensure_log_streams()
            logs = self.get_screen("logs")
            if logs in self.screen_stack:
                while self.screen is not logs:
                    self.pop_screen()
            else:
                self.push_screen(logs)
        else:
            kind = PLAIN_SCREENS[name]
            if name == "metrics":
                self.ensure_log_streams()
            if not isinstance(self.screen, kind):
                self.push_screen(kind())

    def action_quit_app(self) -> None:
        running = self.runs.running()
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

    def open_inventory(self, path: Path) -> None:
        """Work on another inventory file from now on (what was learnt of the old one's hosts is dropped)."""
        if self.runs.running():
            self.notify("wait for the running action to end, then open another inventory", severity="warning")
            return
        self.inventory_path = Path(path)
        self.inventory = Inventory.load(self.inventory_path)
        self.sub_title = cli.display_path(self.inventory_path)
        self.states = HostStates()
        self._become_password = None
        self.refresh_inventory()

    def create_own_inventory(self) -> None:
        """The example copied to mine.yml beside it, comments and all; an existing mine.yml opens as is."""
        path, created = first_start.create_own(self.inventory_path)
        self.open_inventory(path)
        shown = cli.display_path(path)
        say = f"created {shown} from the example: edit each host (e)" if created else f"opened your {shown}"
        self.notify(say + ("" if created else " (it exists already: nothing overwritten)"), timeout=8)

    def open_local_inventory(self) -> None:
        self.open_inventory(first_start.local_inventory_path(self.inventory_path, REPO_ROOT))

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

    def start_action(self, action_id: str, *, asked: bool = False) -> RunRecord | None:
        """Start a playbook in a thread worker and show its grid; refuse while another run is going. A run on
        the example's placeholder addresses needs a yes first (`asked`: it was given)."""
        busy = self.runs.running()
        if busy:
            say = f"{busy[0].name} is still running: wait, or cancel it (r, then c)"
            self.notify(say, severity="warning")
            return None
        action = BY_ID[action_id]
        placeholders = first_start.placeholder_hosts(self.inventory)
        if placeholders and not asked:
            question = f"{first_start.placeholder_warning(placeholders)}. Run {action.name} on them anyway?"
            self.push_screen(
                ConfirmScreen(question, f"Run {action.name}"),
                lambda yes: self.start_action(action_id, asked=True) if yes else None,
            )
            return None
        method = become_method_to_ask(self.inventory)
        if self._become_password is None and method:

            def answered(password: str | None) -> None:
                if password is not None:
                    self._become_password = password
                    self.start_action(action_id, asked=True)

            self.push_screen(BecomePasswordScreen(method), answered)
            return None
        handle = runner_service.PlaybookRun(
            action_id,
            self.inventory_path,
            extravars=self.extravars,
            artifacts=self.artifacts,
            become_password=self._become_password or None,  # "" = sudo needs none: no prompt to answer
        )
        record = self.runs.add(RunRecord.live(action.name, handle), current=True)
        handle.on_event = lambda event: self.post_message(RunEventArrived(record.run_id, event))
        self.run_worker(
            handle.run,  # blocking: ansible-runner runs on this worker's thread
            thread=True,
            group="playbooks",
            name=action.name,
            exit_on_error=False,
        )
        self.push_screen(RunScreen(record))
        return record

    def cancel_run(self, record: RunRecord) -> None:
        if record.running:
            record.cancelling = True
            record.handle.cancel()
            self._grid_dirty.add(record.run_id)

    def on_run_event_arrived(self, message: RunEventArrived) -> None:
        """The runner has applied the event to the run's grid already: redraw it, learn host states."""
        record = self.runs.get(message.run_id)
        if record is None:
            return
        self._grid_dirty.add(record.run_id)
        event = message.event
        if isinstance(event, HostResult):
            self.states.apply(event)
            self._inventory_dirty = True
        elif isinstance(event, RunFinished):
            self._run_finished(record, event)

    def _run_finished(self, record: RunRecord, event: RunFinished) -> None:
        record.cancelling = False
        self._refresh_dirty_grids()
        severity = "information" if event.status == "successful" else "error"
        why = f": {event.error}" if event.error else ""
        self.notify(f"{record.name}: {event.status} (rc={event.rc}){why}", severity=severity, timeout=6)
        self.refresh_inventory()
        if record.name == "Launch" or record.name == "Up":
            self.ensure_log_streams()  # new containers: follow every rank the facts name

    def open_past_run(self, past) -> None:
        record = self.runs.add(RunRecord.past(past))
        self.push_screen(RunScreen(record))

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

    # ---- log streams and metrics -----------------------------------------------------------------
    def receive_log_line(self, line) -> None:
        """A rank's log line, from any thread: the way every line comes in (streams, tests, the bench)."""
        self.logs.receive(line)

    def ensure_log_streams(self) -> None:
        """Follow every rank container not followed yet (placed by facts, else by asking each Docker)."""
        if self.follow_containers:
            self.run_worker(
                self._follow_ranks, thread=True, group="log-start", exclusive=True, exit_on_error=False
            )

    def _follow_ranks(self) -> None:
        if not self.logs.follow(self.inventory, self.states.rank_facts() or None):
            self.call_from_thread(self.notify, "no rank containers found on any host", severity="warning")
        self.hoststats.follow([stream.conn for _rank, stream in self.logs.by_rank()])

    def on_log_lines_arrived(self, message: LogLinesArrived) -> None:
        stepped = False
        for line in message.lines:
            if not line.marker and self.metrics.feed_line(line.text, line.rank, line.host) is not None:
                stepped = True
        logs = self.get_screen("logs")
        if logs.is_mounted and not self.logs.stopping:
            logs.add_lines(message.lines)
        if stepped:
            self.post_message(MetricsUpdated())

    def on_metrics_updated(self, message: MetricsUpdated) -> None:
        self._refresh_metrics_screens()

    def on_host_stats_arrived(self, message: HostStatsArrived) -> None:
        self._refresh_metrics_screens()

    def _refresh_metrics_screens(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MetricsScreen):
                screen.refresh_metrics()

    def on_log_stream_state(self, message: LogStreamState) -> None:
        logs = self.get_screen("logs")
        if logs.is_mounted:
            logs.stream_changed(message.rank)


def main(argv: list[str] | None = None) -> int:
    options = cli.parse(argv)
    if isinstance(options, int):
        return options
    HeteroApp(**options).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
