"""First start: the example inventory's placeholder addresses are told apart from real ones, and the user's
own inventory is made from the example without losing its comments or overwriting anything."""

from __future__ import annotations

from hetero_tui.services.first_start import (
    create_own,
    is_example,
    is_placeholder,
    local_inventory_path,
    placeholder_hosts,
)
from hetero_tui.services.inventory import Inventory, default_inventory_path

from tests.tui.app_helpers import REPO, copy_inventory


def test_documentation_addresses_are_placeholders_and_real_ones_are_not():
    placeholders = (
        "192.0.2.10",
        "198.51.100.7",
        "203.0.113.250",
        "2001:db8::1",
        "gpu.example.com",
        "x.invalid",
    )
    for address in placeholders:
        assert is_placeholder(address), address
    for address in ("192.168.1.10", "10.77.0.11", "127.0.0.1", "::1", "desktop", "box.lan", "example.com.au"):
        assert not is_placeholder(address), address


def test_the_shipped_example_is_recognised_and_the_other_inventories_are_not(tmp_path):
    example = Inventory.load(REPO / "inventory" / "hosts.yml")
    assert is_example(example) and len(placeholder_hosts(example)) == len(example.hosts) == 4
    assert not is_example(Inventory.load(REPO / "inventory" / "local.yml"))
    assert placeholder_hosts(Inventory.load(REPO / "inventory" / "local.yml")) == []


def test_a_copy_edited_in_part_still_names_the_hosts_left_at_placeholders(tmp_path):
    inventory = Inventory.load(copy_inventory(REPO / "inventory" / "hosts.yml", tmp_path))
    assert inventory.update_host("desktop", {"ansible_host": "192.168.7.2"}) == {}
    assert not is_example(inventory)
    assert [host.name for host in placeholder_hosts(inventory)] == ["gpu-box", "laptop", "wsl-laptop"]


def test_own_inventory_is_the_example_with_its_comments_and_never_overwrites(tmp_path):
    example = copy_inventory(REPO / "inventory" / "hosts.yml", tmp_path)
    mine, created = create_own(example)
    assert created and mine == tmp_path / "mine.yml"
    assert mine.read_text() == example.read_text()  # every comment explaining a field is kept
    own = Inventory.load(mine)  # yours now, its addresses still to be put in
    assert not is_example(own) and len(placeholder_hosts(own)) == 4
    mine.write_text("# mine, edited\n")
    assert create_own(example) == (mine, False)
    assert mine.read_text() == "# mine, edited\n"


def test_the_default_inventory_is_yours_once_you_have_one(tmp_path):
    folder = tmp_path / "inventory"
    folder.mkdir()
    (folder / "local.yml").write_text("all: {}\n")
    (folder / "hosts.yml").write_text("all: {}\n")
    assert default_inventory_path(tmp_path) == folder / "hosts.yml"
    (folder / "mine.yml").write_text("all: {}\n")
    assert default_inventory_path(tmp_path) == folder / "mine.yml"


def test_local_yml_is_the_one_beside_the_open_inventory_else_the_repositorys(tmp_path):
    assert local_inventory_path(tmp_path / "hosts.yml", REPO) == REPO / "inventory" / "local.yml"
    (tmp_path / "local.yml").write_text("all: {}\n")
    assert local_inventory_path(tmp_path / "hosts.yml", REPO) == tmp_path / "local.yml"
