"""Pilot tests of the inventory screen and its forms (no lab needed: nothing here runs a playbook)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hetero_tui.app import HeteroApp, main
from hetero_tui.screens.confirm import ConfirmScreen
from hetero_tui.screens.forms import FieldForm
from hetero_tui.screens.help import HelpScreen
from hetero_tui.screens.history import HistoryScreen
from hetero_tui.screens.inventory import InventoryScreen
from hetero_tui.screens.password import BecomePasswordScreen
from hetero_tui.services.events import HostResult
from hetero_tui.services.hoststate import STATUS_FACT
from textual.widgets import Button, DataTable, Input, Select, Static

from tests.tui.app_helpers import REPO, copy_inventory, pilot_test, table_rows, text_of


@pytest.fixture
def inventory(tmp_path) -> Path:
    """A copy of the example inventory (with its comments) and group_vars."""
    return copy_inventory(REPO / "inventory" / "hosts.yml", tmp_path / "inv")


def make_app(inventory: Path, tmp_path: Path) -> HeteroApp:
    return HeteroApp(inventory, artifacts=tmp_path / "artifacts", save_dir=tmp_path)


@pilot_test
async def test_opens_on_hosts_with_address_role_and_ranks(inventory, tmp_path):
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        assert isinstance(pilot.app.screen, InventoryScreen)
        rows = table_rows(pilot.app.screen.query_one("#hosts", DataTable))
        assert [row[:3] for row in rows] == [
            ["desktop", "192.0.2.10", "master"],
            ["gpu-box", "192.0.2.11", "worker"],
            ["laptop", "192.0.2.20", "worker"],
            ["wsl-laptop", "192.0.2.21", "worker"],
        ]
        assert [row[4] for row in rows] == ["0", "1", "2", "3"]  # before facts every host counts as CPU
        assert "unknown" in rows[0][5]
        assert "world size 4, master desktop" in text_of(pilot.app.screen.query_one("#plan", Static))


@pilot_test
async def test_add_host_validates_as_you_type_and_writes_only_when_valid(inventory, tmp_path):
    before = inventory.read_text()
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        form = pilot.app.screen
        assert isinstance(form, FieldForm)
        await pilot.press(*"lap5")
        form.query_one("#f-ansible_host", Input).focus()
        await pilot.press(*"192.0.2.11")  # gpu-box's address: one machine listed twice
        await pilot.pause()
        assert "gpu-box already has address 192.0.2.11" in text_of(form.query_one("#e-ansible_host", Static))
        assert form.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")  # refused while invalid
        assert pilot.app.screen is form
        assert inventory.read_text() == before

        await pilot.press("backspace", "backspace", *"30")  # 192.0.2.30
        form.query_one("#f-hetero_ranks", Input).focus()
        await pilot.press(*"two")
        await pilot.pause()
        assert "hetero_ranks: must be a whole number" in text_of(form.query_one("#e-hetero_ranks", Static))
        await pilot.press("backspace", "backspace", "backspace", "2")
        await pilot.pause()
        assert form.errors == {}, form.values()
        assert not form.query_one("#save", Button).disabled
        await pilot.click("#save")
        await pilot.pause()
        assert isinstance(pilot.app.screen, InventoryScreen)
        rows = table_rows(pilot.app.screen.query_one("#hosts", DataTable))
        assert rows[-1][:5] == ["lap5", "192.0.2.30", "worker", "?", "4,5"]

    after = inventory.read_text()
    assert "lap5:\n          ansible_host: 192.0.2.30\n          hetero_ranks: 2" in after
    # the user's comments and order survive the edit
    assert after.startswith(before.split("all:")[0])
    assert "# A Windows laptop running Ubuntu in WSL2" in after


@pilot_test
async def test_edit_and_remove_host_after_confirmation(inventory, tmp_path):
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        table = pilot.app.screen.query_one("#hosts", DataTable)
        table.move_cursor(row=2)  # laptop
        await pilot.press("e")
        form = pilot.app.screen
        assert form.query_one("#f-name", Input).value == "laptop"
        assert form.query_one("#f-ansible_user", Input).value == "bob"
        form.query_one("#f-ansible_host", Input).value = "192.0.2.25"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "ansible_host: 192.0.2.25\n          ansible_user: bob" in inventory.read_text()

        table.move_cursor(row=1)  # gpu-box
        await pilot.press("x")
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("n")
        assert "gpu-box:" in inventory.read_text()
        await pilot.press("x", "y")
        await pilot.pause()
        assert "gpu-box:" not in inventory.read_text()
        assert [row[0] for row in table_rows(table)] == ["desktop", "laptop", "wsl-laptop"]


@pilot_test
async def test_training_settings_refuse_bad_values_and_keep_comments(inventory, tmp_path):
    settings = inventory.parent / "group_vars" / "all.yml"
    before = settings.read_text()
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("T")
        form = pilot.app.screen
        epochs = form.query_one("#f-hetero_epochs", Input)
        epochs.value = "0"
        await pilot.pause()
        assert "hetero_epochs: must be a whole number >= 1" in text_of(
            form.query_one("#e-hetero_epochs", Static)
        )
        assert form.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")
        assert settings.read_text() == before
        epochs.value = "3"
        form.query_one("#f-hetero_experiment_name", Input).value = "try/2"
        await pilot.pause()
        assert "no '/'" in text_of(form.query_one("#e-hetero_experiment_name", Static))
        form.query_one("#f-hetero_experiment_name", Input).value = "try2"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(pilot.app.screen, InventoryScreen)
    after = settings.read_text()
    assert "hetero_epochs: 3\n" in after and "hetero_experiment_name: try2\n" in after
    assert "# Passes over the data set (the learning-rate schedule follows it)." in after


@pilot_test
async def test_help_palette_and_escape(inventory, tmp_path):
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, InventoryScreen)
        await pilot.press("ctrl+p")
        await pilot.press(*"past runs")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, HistoryScreen)
        assert "no runs kept" in text_of(pilot.app.screen.query_one("#run-title", Static))
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, InventoryScreen)
        await pilot.press("escape")  # the home screen stays
        assert isinstance(pilot.app.screen, InventoryScreen)


def test_missing_inventory_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["-i", str(tmp_path / "nope.yml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"hetero-tui: inventory {tmp_path / 'nope.yml'} not found; pass an existing file with -i"
    assert main(["-i", str(REPO / "inventory" / "hosts.yml"), "-e", "max_steps"]) == 2
    assert "write name=value" in capsys.readouterr().err


@pilot_test
async def test_an_inventory_that_becomes_root_asks_for_the_sudo_password_first(inventory, tmp_path):
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("p", "y")  # Preflight on the example's placeholder addresses: yes (see first start)
        assert isinstance(pilot.app.screen, BecomePasswordScreen)  # the example says ansible_become: true
        await pilot.press("escape")  # cancelled: no run starts
        assert isinstance(pilot.app.screen, InventoryScreen)
        assert pilot.app.runs.current is None and not (tmp_path / "artifacts").exists()


@pilot_test
async def test_a_hosts_state_shows_how_often_docker_restarted_its_ranks(inventory, tmp_path):
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        # status.yml's hetero_status fact (its containers: name, state, exit code, restart count)
        containers = [{"name": "hetero-rank-1", "state": "running", "exit_code": 0, "restarts": 2}]
        facts = {"ansible_facts": {STATUS_FACT: {"containers": containers}}}
        result = HostResult("Status", "p1", "Summarise this host", "t1", "gpu-box", "ok", 0.1, facts)
        pilot.app.states.apply(result)
        pilot.app.refresh_inventory()
        await pilot.pause()
        rows = {row[0]: row for row in table_rows(pilot.app.screen.query_one("#hosts", DataTable))}
        assert rows["gpu-box"][5] == "up 1/1 run ↻2"
        assert "↻" not in rows["desktop"][5]


@pilot_test
async def test_a_hosts_state_counts_the_ranks_left_out_and_the_plan_line_says_why(inventory, tmp_path):
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        # status.yml's hetero_status fact: rank 3 exited 0, but its log says the trainer left it out
        why = "rank 3 (wsl-laptop) left out: its link adds 1.30 s per step and its compute saves 0.20 s"
        containers = [
            {"name": "hetero-rank-3", "state": "exited", "exit_code": 0, "restarts": 0, "left_out": why}
        ]
        facts = {"ansible_facts": {STATUS_FACT: {"containers": containers}}}
        result = HostResult("Status", "p1", "Summarise this host", "t1", "wsl-laptop", "ok", 0.1, facts)
        pilot.app.states.apply(result)
        pilot.app.refresh_inventory()
        await pilot.pause()
        rows = {row[0]: row for row in table_rows(pilot.app.screen.query_one("#hosts", DataTable))}
        assert rows["wsl-laptop"][5] == "up 0/1 run 1 left out"
        plan = pilot.app.screen.query_one("#plan", Static)
        assert text_of(plan).splitlines()[1:] == [why]
        assert plan.size.height > 1 and plan.tooltip == why  # shown under the plan line, not cut off


@pilot_test
async def test_your_own_model_set_in_the_inventory_survives_the_settings_form(inventory, tmp_path):
    settings = inventory.parent / "group_vars" / "all.yml"
    settings.write_text(
        settings.read_text().replace("hetero_model: simple_cnn", "hetero_model: my_pkg.net:build")
    )
    async with make_app(inventory, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("T")
        form = pilot.app.screen
        assert form.query_one("#f-hetero_model", Select).value == "my_pkg.net:build"
        form.query_one("#f-hetero_epochs", Input).value = "2"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(pilot.app.screen, InventoryScreen)
    assert "hetero_model: my_pkg.net:build\n" in settings.read_text()
