"""The inventory screen's Link column: each host's link to the master as preflight's link probe measured it
(roles/link_probe sets hetero_link_mbit and hetero_link_rtt_ms), shown once a run has reported one."""

from __future__ import annotations

from hetero_tui.app import HeteroApp
from hetero_tui.services.events import HostResult
from hetero_tui.services.hoststate import HostStates
from textual.widgets import DataTable

from tests.tui.app_helpers import REPO, copy_inventory, pilot_test, table_rows


def _link_fact(host: str, mbit, rtt) -> HostResult:
    """The link probe's set_fact result (facts come back as strings)."""
    facts = {"ansible_facts": {"hetero_link_mbit": mbit, "hetero_link_rtt_ms": rtt}}
    return HostResult("Preflight", "p1", "link_probe : Set the link facts", "t1", host, "ok", 0.1, facts)


def test_host_state_keeps_the_measured_link():
    states = HostStates()
    states.apply(_link_fact("lap2", "48.3", "0.41"))
    states.apply(HostResult("Preflight", "p1", "Show the plan", "t2", "lap1", "ok", 0.1, {"msg": "plan"}))
    assert states.hosts["lap2"].link == (48.3, 0.41)
    assert states.hosts["lap1"].link is None  # the master measures nothing


@pilot_test
async def test_the_link_column_appears_once_a_link_was_measured(tmp_path):
    inventory = copy_inventory(REPO / "inventory" / "hosts.yml", tmp_path / "inv")
    app = HeteroApp(inventory, artifacts=tmp_path / "artifacts", save_dir=tmp_path)
    async with app.run_test(size=(120, 24)) as pilot:
        table = pilot.app.screen.query_one("#hosts", DataTable)
        assert "link" not in table.columns  # no preflight yet: the table is as before

        pilot.app.states.apply(_link_fact("gpu-box", "287.4", "0.41"))
        pilot.app.states.apply(_link_fact("laptop", 48.3, 1.26))
        pilot.app.states.apply(_link_fact("wsl-laptop", 0.52, 123.4))
        pilot.app.refresh_inventory()
        await pilot.pause()
        rows = {row[0]: row for row in table_rows(table)}
        assert [column.key.value for column in table.ordered_columns][-1] == "link"
        assert rows["desktop"][6] == "-"  # the master
        assert rows["gpu-box"][6] == "287 Mbit/s 0.41 ms"
        assert rows["laptop"][6] == "48 Mbit/s 1.3 ms"
        assert rows["wsl-laptop"][6] == "0.52 Mbit/s 123 ms"
        assert rows["gpu-box"][5].startswith("up")  # the State column stays where it was
