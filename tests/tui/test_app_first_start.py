"""First start (Pilot, 80x24): the example inventory says so on the first screen, offers the user's own
inventory or inventory/local.yml, and no playbook runs on its placeholder addresses without a yes."""

from __future__ import annotations

import shutil

import pytest
from hetero_tui.app import HeteroApp
from hetero_tui.screens.confirm import ConfirmScreen
from hetero_tui.screens.inventory import InventoryScreen
from hetero_tui.screens.password import BecomePasswordScreen
from textual.widgets import DataTable, Static

from tests.tui.app_helpers import REPO, copy_inventory, pilot_test, table_rows, text_of


@pytest.fixture
def example(tmp_path):
    """A copy of inventory/ as shipped: the example, local.yml beside it, group_vars."""
    inventory = copy_inventory(REPO / "inventory" / "hosts.yml", tmp_path / "inventory")
    shutil.copyfile(REPO / "inventory" / "local.yml", inventory.parent / "local.yml")
    return inventory


def make_app(inventory, tmp_path) -> HeteroApp:
    return HeteroApp(inventory, artifacts=tmp_path / "artifacts", save_dir=tmp_path, follow_containers=False)


def banner(app) -> Static:
    return app.screen.query_one("#first-start", Static)


def hosts(app) -> list[str]:
    return [row[0] for row in table_rows(app.screen.query_one("#hosts", DataTable))]


@pilot_test
async def test_the_example_says_so_and_n_makes_your_own_inventory_from_it(example, tmp_path):
    async with make_app(example, tmp_path).run_test(size=(80, 24)) as pilot:
        shown = text_of(banner(pilot.app))
        assert banner(pilot.app).display and "The shipped example" in shown and "placeholders" in shown
        assert "inventory/mine.yml" in shown and "inventory/local.yml" in shown
        await pilot.press("n")
        mine = example.parent / "mine.yml"
        assert mine.read_text() == example.read_text()  # the example's comments come along
        assert pilot.app.inventory_path == mine and isinstance(pilot.app.screen, InventoryScreen)
        # still the example's addresses: the banner now says which hosts to edit
        assert "still the example's placeholder address: desktop, gpu-box" in text_of(banner(pilot.app))
        await pilot.press("e")  # the edit form of the selected host opens on mine.yml
        pilot.app.screen.query_one("#f-ansible_host").value = "192.168.7.2"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "ansible_host: 192.168.7.2" in mine.read_text()
        assert "desktop" not in text_of(banner(pilot.app))
        assert "ansible_host: 192.0.2.10" in example.read_text()  # the example is untouched


@pilot_test
async def test_o_opens_local_yml_and_the_banner_goes(example, tmp_path):
    async with make_app(example, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        assert pilot.app.inventory_path == example.parent / "local.yml"
        assert hosts(pilot.app) == ["localhost"] and not banner(pilot.app).display
        assert "local.yml" in pilot.app.sub_title
        await pilot.press("n")  # offered only for the example: nothing happens
        assert not (example.parent / "mine.yml").exists()


@pilot_test
async def test_an_existing_own_inventory_is_opened_not_overwritten(example, tmp_path):
    mine = example.parent / "mine.yml"
    lap1 = "        lap1:\n          ansible_host: 10.1.2.3\n"
    mine.write_text("all:\n  children:\n    cluster:\n      hosts:\n" + lap1)
    before = mine.read_text()
    async with make_app(example, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        assert pilot.app.inventory_path == mine and hosts(pilot.app) == ["lap1"]
    assert mine.read_text() == before


@pilot_test
async def test_a_playbook_on_placeholder_addresses_asks_first_and_no_runs_nothing(example, tmp_path):
    async with make_app(example, tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.press("p")  # Preflight
        assert isinstance(pilot.app.screen, ConfirmScreen)
        question = text_of(pilot.app.screen.query_one("#question"))
        assert "desktop (192.0.2.10)" in question and "not your machines" in question
        assert "Run Preflight on them anyway?" in question
        await pilot.press("n")
        assert isinstance(pilot.app.screen, InventoryScreen)
        assert pilot.app.runs.current is None and not (tmp_path / "artifacts").exists()
        await pilot.press("U")  # every action asks, each time
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("y")  # yes: the action goes on (here to the become password of the example)
        assert isinstance(pilot.app.screen, BecomePasswordScreen)
        await pilot.press("escape")
        assert pilot.app.runs.current is None
