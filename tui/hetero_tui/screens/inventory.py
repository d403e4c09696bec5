"""The home screen: every host of the inventory, its role and ranks, and what the last run learnt about it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from hetero_tui.screens.base import HeteroScreen
from hetero_tui.screens.confirm import ConfirmScreen
from hetero_tui.screens.forms import host_form, settings_form
from hetero_tui.services.first_start import is_example, placeholder_hosts

COLUMNS = ("Host", "Address", "Role", "Kind", "Ranks", "State")
# Shown once a preflight has measured a link (roles/link_probe): each host's throughput and round-trip time
# to the master.
LINK_COLUMN = "Link"


class InventoryScreen(HeteroScreen):
    HELP = """\
## Inventory
| key | |
|---|---|
| `a` | add a host |
| `e` / `Enter` | edit the selected host |
| `x` | remove the selected host (asks first) |
| `T` | training settings |
| `n` | the example inventory: create your own from it (`inventory/mine.yml`, comments kept) |
| `o` | the example inventory: open `inventory/local.yml` (this machine alone) instead |
"""

    BINDINGS = [
        Binding("a", "add_host", "Add"),
        Binding("e", "edit_host", "Edit"),
        Binding("x", "remove_host", "Remove"),
        Binding("T", "settings", "Settings"),
        Binding("n", "own_inventory", "Mine"),
        Binding("o", "local_inventory", "Local"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="inventory-path")
        yield Static("", id="first-start")
        yield DataTable(id="hosts", cursor_type="row", zebra_stripes=True)
        yield Static("", id="plan")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#hosts", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column.lower())
        self.refresh_hosts()

    def refresh_hosts(self) -> None:
        """Redraw from the app's inventory and host states (after a save or a run)."""
        app = self.app
        inventory = app.inventory
        table = self.query_one("#hosts", DataTable)
        selected = table.cursor_row
        table.clear()
        states = app.host_states()
        with_links = any(state.link for state in states.values())
        if with_links and LINK_COLUMN.lower() not in table.columns:
            table.add_column(LINK_COLUMN, key=LINK_COLUMN.lower())
        with_links = LINK_COLUMN.lower() in table.columns
        plan = inventory.rank_plan(app.states.gpu_counts())
        plan_hosts = plan.get("hosts", {})
        for host in inventory.hosts:
            state = states.get(host.name)
            # Gathered facts win; before any, the inventory's own plan (CPU assumed) fills in.
            ranks = (state.ranks if state else []) or [
                r["rank"] for r in plan_hosts.get(host.name, {}).get("ranks", [])
            ]
            master = (
                state.is_master
                if state and state.is_master is not None
                else plan.get("master_host") == host.name
            )
            role = "master" if master else "worker"
            kind = _kind(state)
            cells = [
                host.name,
                host.address,
                role,
                kind,
                ",".join(map(str, ranks)) or "-",
                _state_text(state, app.states.image_current(host.name) if state else None),
            ]
            if with_links:
                cells.append(_link_text(state))
            table.add_row(*cells, key=host.name)
        if inventory.hosts:
            table.move_cursor(row=min(max(selected, 0), len(inventory.hosts) - 1))
        self.query_one("#inventory-path", Static).update(
            f"[b]{self.app.sub_title}[/]  {len(inventory.hosts)} hosts"
        )
        if "error" in plan:
            line = Text(f"plan: {plan['error']}", style="bold red")
        else:
            facts = "from gathered facts" if states else "no facts yet: CPU assumed"
            line = Text(f"world size {plan['world_size']}, master {plan['master_host']} ({facts})")
        # Why the trainer left ranks out, below the plan (the State column only counts them).
        hosts = [states[h.name] for h in inventory.hosts if h.name in states]
        reasons = [c.left_out for state in hosts for c in state.containers if c.left_out]
        for reason in reasons:
            line.append(f"\n{reason}", style="yellow")
        self.query_one("#plan", Static).update(line)
        self.query_one("#plan", Static).tooltip = "\n".join(reasons) or None
        self._first_start(inventory)

    def _first_start(self, inventory) -> None:
        """Say so while the inventory is the shipped example, or still has some of its placeholder hosts."""
        banner = self.query_one("#first-start", Static)
        placeholders = placeholder_hosts(inventory)
        banner.display = bool(placeholders)
        if is_example(inventory):
            banner.update(
                Text.assemble(
                    ("The shipped example", "bold yellow"),
                    ": its addresses are placeholders, not your machines.\n",
                    ("n", "bold"),
                    "  create your own inventory from it: inventory/mine.yml, comments kept\n",
                    ("o", "bold"),
                    "  open inventory/local.yml instead: this machine alone",
                )
            )
        elif placeholders:
            names = ", ".join(host.name for host in placeholders)
            banner.update(
                Text.assemble(
                    (f"still the example's placeholder address: {names}", "bold yellow"),
                    ". Put each machine's own (e); a playbook asks before it runs on them.",
                )
            )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """`n` and `o` exist only while the inventory is the example."""
        if action in ("own_inventory", "local_inventory"):
            return is_example(self.app.inventory)
        return True

    def action_own_inventory(self) -> None:
        self.app.create_own_inventory()

    def action_local_inventory(self) -> None:
        self.app.open_local_inventory()

    def selected_host(self) -> str | None:
        table = self.query_one("#hosts", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_edit_host()

    def action_add_host(self) -> None:
        self.app.push_screen(
            host_form(self.app.inventory, None), lambda fields: self._saved_host(None, fields)
        )

    def action_edit_host(self) -> None:
        name = self.selected_host()
        if name:
            self.app.push_screen(
                host_form(self.app.inventory, name), lambda fields: self._saved_host(name, fields)
            )

    def _saved_host(self, original: str | None, fields: dict[str, str] | None) -> None:
        if fields is None:
            return
        inventory = self.app.inventory
        errors = inventory.update_host(original, fields) if original else inventory.add_host(fields)
        self.app.save_inventory(errors)

    def action_remove_host(self) -> None:
        name = self.selected_host()
        if not name:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.inventory.remove_host(name)
                self.app.save_inventory({})

        self.app.push_screen(
            ConfirmScreen(f"Remove host {name} from {self.app.inventory.path.name}?", "Remove"), answered
        )

    def action_settings(self) -> None:
        def saved(fields: dict[str, str] | None) -> None:
            if fields is not None:
                self.app.save_inventory(self.app.inventory.update_settings(fields))

        self.app.push_screen(settings_form(self.app.inventory), saved)


def _kind(state) -> str:
    if state is None or state.gpu_count is None:
        return "?"
    return f"GPU x{state.gpu_count}" if state.gpu_count else "CPU"


def _link_text(state) -> str:
    """'287 Mbit/s 0.4 ms' to the master, as the last preflight measured it; '-' where none was."""
    link = state.link if state else None
    if link is None:
        return "-"
    mbit, rtt = link
    return f"{_number(mbit)} Mbit/s {_number(rtt)} ms"


def _number(value: float) -> str:
    """Two significant digits below 10 (0.043, 5.3), whole numbers above (48, 20400): never 1e+02."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _state_text(state, image_current: bool | None = None) -> Text:
    """reachable / Docker / image / containers, as far as the runs so far have told: "1/2 run" counts the
    running rank containers, "1 left out" those the trainer left out (why: below the table)."""
    if state is None or state.reachable is None:
        return Text("unknown: run Status (s)", style="dim")
    if not state.reachable:
        return Text(f"UNREACHABLE {state.error}", style="bold red")
    text = Text("up", style="green")
    if state.docker:
        text.append(f" docker {state.docker.split('+')[0]}", style="red" if state.docker == "down" else "")
    if state.image == "missing":
        text.append(" no image", style="red")
    elif state.image:
        # the controller's image differs: Distribute would send it again
        label = {True: "image ok", False: "image old"}.get(image_current, f"img {state.image[:7]}")
        text.append(f" {label}", style="yellow" if image_current is False else "")
    # A left-out rank 0 idles on (the others' store lives in it): it is not training, so it does not count.
    running = sum(1 for c in state.containers if c.shown == "running")
    left_out = sum(1 for c in state.containers if c.left_out)
    if state.containers:
        bad = any(c.state != "running" and c.exit_code not in (0, None) for c in state.containers)
        text.append(f" {running}/{len(state.containers)} run", style="red" if bad else "green")
        if left_out:
            text.append(f" {left_out} left out", style="yellow")
        restarts = sum(c.restarts for c in state.containers)
        if restarts:  # Docker restarted a crashed rank (its on-failure policy): say how often, as k9s does
            text.append(f" ↻{restarts}", style="bold yellow")
    elif state.docker and state.docker != "down":
        text.append(" 0 ctr", style="dim")
    return text
