"""Inventory service: round-trip editing of copies of the project's own inventory files."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
from hetero_tui.services import REPO_ROOT
from hetero_tui.services.host_form import HOST_FIELDS
from hetero_tui.services.inventory import Inventory, InventoryInvalid, default_inventory_path
from hetero_tui.services.settings_form import validate_settings

INVENTORY = REPO_ROOT / "inventory"


@pytest.fixture
def inv_dir(tmp_path: Path) -> Path:
    """A copy of inventory/ (hosts.yml, local.yml, group_vars/all.yml)."""
    shutil.copytree(INVENTORY, tmp_path / "inventory")
    return tmp_path / "inventory"


def _comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def _changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line for line in diff if line[:2] in ("- ", "+ ")]


def test_load_lists_hosts_in_file_order_with_addresses_and_ranks(inv_dir):
    inv = Inventory.load(inv_dir / "hosts.yml")
    assert [(h.name, h.address, h.ranks, h.rank) for h in inv.hosts] == [
        ("desktop", "192.0.2.10", None, 0),
        ("gpu-box", "192.0.2.11", None, None),
        ("laptop", "192.0.2.20", None, None),
        ("wsl-laptop", "192.0.2.21", None, None),
    ]
    assert inv.host("laptop").vars["ansible_user"] == "bob"
    assert inv.host("wsl-laptop").fields()["ansible_port"] == "2222"
    assert inv.settings["hetero_model"] == "simple_cnn"
    assert inv.settings["hetero_master_port"] == 29500
    assert not inv.dirty and inv.errors() == {}


def test_save_without_edits_writes_nothing(inv_dir):
    inv = Inventory.load(inv_dir / "hosts.yml")
    assert inv.save() == []


def test_edits_keep_every_comment_and_the_order(inv_dir):
    hosts, settings = inv_dir / "hosts.yml", inv_dir / "group_vars" / "all.yml"
    hosts_before, settings_before = hosts.read_text(), settings.read_text()
    inv = Inventory.load(hosts)

    assert inv.update_host("laptop", {"ansible_host": "192.0.2.30", "hetero_ranks": "2"}) == {}
    assert inv.add_host({"name": "attic-pc", "ansible_host": "attic.lan", "ansible_user": "carol"}) == {}
    assert inv.update_settings({"hetero_epochs": "3", "hetero_backend": "gloo"}) == {}
    assert inv.dirty
    assert sorted(inv.save()) == sorted([hosts, settings])

    hosts_after, settings_after = hosts.read_text(), settings.read_text()
    assert _comments(hosts_after) == _comments(hosts_before)
    assert _comments(settings_after) == _comments(settings_before)
    # only the edited values changed, nothing else was reformatted
    assert _changed_lines(hosts_before, hosts_after) == [
        "-           ansible_host: 192.0.2.20",
        "+           ansible_host: 192.0.2.30",
        "+           hetero_ranks: 2",
        "+ ",
        "+         attic-pc:",
        "+           ansible_host: attic.lan",
        "+           ansible_user: carol",
    ]
    assert _changed_lines(settings_before, settings_after) == [
        "- hetero_epochs: 1",
        "+ hetero_epochs: 3",
        "- hetero_backend: auto",
        "+ hetero_backend: gloo",
    ]
    # a key added at the end of a host goes before the next host's header comment, not after it
    assert "ansible_user: bob\n          hetero_ranks: 2\n\n        # A Windows laptop" in hosts_after
    # hosts are separated by a blank line in this file: the new one too
    assert "hetero_hardware_cluster_addr: 192.0.2.21\n\n        attic-pc:\n" in hosts_after
    again = Inventory.load(hosts)
    assert [h.name for h in again.hosts] == ["desktop", "gpu-box", "laptop", "wsl-laptop", "attic-pc"]
    assert (again.host("laptop").address, again.host("laptop").ranks) == ("192.0.2.30", 2)
    assert again.settings["hetero_epochs"] == 3


def test_rename_keeps_the_host_in_place_and_remove_drops_it(inv_dir):
    inv = Inventory.load(inv_dir / "hosts.yml")
    assert inv.update_host("gpu-box", {"name": "gpu-tower"}) == {}
    inv.remove_host("laptop")
    inv.save()
    text = (inv_dir / "hosts.yml").read_text()
    again = Inventory.load(inv_dir / "hosts.yml")
    assert [h.name for h in again.hosts] == ["desktop", "gpu-tower", "wsl-laptop"]
    assert again.host("gpu-tower").address == "192.0.2.11"
    # the removed host's header comment went with it; the next host keeps its own, right above it
    assert "# A CPU laptop" not in text
    assert "it works either way.\n        wsl-laptop:" in text
    assert "installed for you.\n        gpu-tower:" in text


def test_clearing_a_field_removes_the_key(inv_dir):
    inv = Inventory.load(inv_dir / "hosts.yml")
    assert inv.update_host("desktop", {"hetero_rank": ""}) == {}
    inv.save()
    assert "hetero_rank: 0" not in (inv_dir / "hosts.yml").read_text()
    assert Inventory.load(inv_dir / "hosts.yml").host("desktop").rank is None


def test_invalid_inventory_is_not_saved_and_files_stay_byte_identical(inv_dir):
    hosts, settings = inv_dir / "hosts.yml", inv_dir / "group_vars" / "all.yml"
    before = hosts.read_bytes(), settings.read_bytes()
    inv = Inventory.load(hosts)
    # each edit is fine alone, but together they leave rank 1 unused (4 CPU ranks, one pinned at 7)
    assert inv.update_host("laptop", {"hetero_rank": "7"}) == {}
    assert inv.update_settings({"hetero_seed": "5"}) == {}
    with pytest.raises(InventoryInvalid) as refused:
        inv.save()
    assert list(refused.value.errors) == ["plan"]
    assert "laptop" in refused.value.errors["plan"] and "hetero_rank" in refused.value.errors["plan"]
    assert (hosts.read_bytes(), settings.read_bytes()) == before


def test_a_refused_edit_changes_nothing(inv_dir):
    inv = Inventory.load(inv_dir / "hosts.yml")
    errors = inv.update_host("laptop", {"ansible_host": "192.0.2.10"})  # desktop's address
    assert list(errors) == ["ansible_host"]
    assert inv.host("laptop").address == "192.0.2.20"
    assert not inv.dirty


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "", "required"),
        ("name", "my laptop", "letters"),
        ("name", "gpu-box", "already called"),
        ("ansible_host", "300.1.2.3", "not an IP address"),
        ("ansible_host", "bad_host!", "not an IP address"),
        ("ansible_host", "192.0.2.11", "gpu-box already has address"),
        ("ansible_port", "0", ">= 1"),
        ("ansible_port", "70000", "1-65535"),
        ("hetero_ranks", "0", ">= 1"),
        ("hetero_ranks", "two", "whole number"),
        ("hetero_rank", "-1", ">= 0"),
        ("hetero_rank", "0", "desktop already starts at rank 0"),
        ("ansible_user", "bob smith", "not a user name"),
    ],
)
def test_host_validation_names_the_field(inv_dir, field, value, words):
    inv = Inventory.load(inv_dir / "hosts.yml")
    fields = {"name": "new-box", "ansible_host": "10.0.0.5", field: value}
    errors = inv.validate_host(fields)
    assert list(errors) == [field]
    assert errors[field].startswith(f"{field}: ") and words in errors[field]


def test_a_valid_new_host_has_no_errors(inv_dir):
    inv = Inventory.load(inv_dir / "hosts.yml")
    fields = dict.fromkeys(HOST_FIELDS, "")
    fields.update(name="new-box", ansible_host="fe80::1", ansible_port="22", hetero_ranks="2")
    assert inv.validate_host(fields) == {}
    assert inv.validate_host(inv.host("laptop").fields(), original="laptop") == {}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("hetero_model", "resnet999", "simple_cnn, resnet18, resnet50"),
        ("hetero_dataset", "mnist", "synthetic_image"),
        ("hetero_balance_policy", "magic", "none, static, dynamic, adaptive"),
        ("hetero_backend", "mpi", "auto, gloo, nccl"),
        ("hetero_master_port", "0", "1024-65535"),
        ("hetero_master_port", "80", "uid 1000"),
        ("hetero_master_port", "65536", "1024-65535"),
        ("hetero_epochs", "0", ">= 1"),
        ("hetero_global_batch_size", "-3", ">= 1"),
        ("hetero_batch_size", "1.5", "whole number"),
        ("hetero_data_dir", "data", "absolute path"),
        ("hetero_experiment_name", "a/b", "no '/'"),
        ("hetero_collective_timeout", "0", "> 0"),
        ("hetero_rendezvous_timeout", "soon", "must be a number"),
    ],
)
def test_settings_validation_names_the_field(field, value, words):
    errors = validate_settings({field: value})
    assert list(errors) == [field]
    assert errors[field].startswith(f"{field}: ") and words in errors[field]


def test_blank_settings_mean_the_trainers_default():
    blank = {"hetero_max_steps": "", "hetero_batch_size": "", "hetero_epochs": "", "hetero_seed": "0"}
    assert validate_settings(blank) == {}


def test_rank_plan_comes_from_the_project_rule_and_uses_gpu_facts(inv_dir):
    inv = Inventory.load(inv_dir / "hosts.yml")
    plan = inv.rank_plan({"desktop": 2, "gpu-box": 1})
    ranks = {name: [r["rank"] for r in entry["ranks"]] for name, entry in plan["hosts"].items()}
    # what the comments in inventory/hosts.yml promise
    assert ranks == {"desktop": [0, 1], "gpu-box": [2], "laptop": [3], "wsl-laptop": [4]}
    assert plan["master_host"] == "desktop" and plan["world_size"] == 5
    inv.update_host("laptop", {"hetero_ranks": "3"})
    assert "GPU" in inv.rank_plan({"laptop": 2})["error"]


def test_a_host_added_to_a_compact_file_stays_compact(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text(
        "all:\n  children:\n    cluster:\n      hosts:\n        lap1:\n          ansible_host: 10.77.0.11"
        "  # the first\n        lap2:\n"
    )
    inv = Inventory.load(path)
    assert inv.add_host({"name": "lap3", "ansible_host": "10.77.0.13", "hetero_ranks": "2"}) == {}
    inv.save()
    assert path.read_text().endswith(
        "ansible_host: 10.77.0.11  # the first\n        lap2:\n        lap3:\n"
        "          ansible_host: 10.77.0.13\n          hetero_ranks: 2\n"
    )


def test_host_vars_merge_group_vars_like_ansible(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text(
        "all:\n  vars:\n    ansible_user: alice\n  children:\n    cluster:\n      hosts:\n"
        "        lap1:\n          ansible_host: 10.77.0.11\n        lap2:\n          ansible_user: bob\n"
        "      vars:\n        ansible_ssh_common_args: -o UserKnownHostsFile=/tmp/kh\n"
    )
    inv = Inventory.load(path)
    assert inv.host_vars("lap1")["ansible_user"] == "alice"
    assert inv.host_vars("lap2")["ansible_user"] == "bob"
    assert inv.host_vars("lap2")["ansible_host"] == "lap2"
    assert inv.host_vars("lap1")["ansible_ssh_common_args"] == "-o UserKnownHostsFile=/tmp/kh"
    assert inv.settings == {}  # no group_vars beside it


def test_default_inventory_prefers_hosts_yml(tmp_path):
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "local.yml").write_text("all: {}\n")
    assert default_inventory_path(tmp_path) == tmp_path / "inventory" / "local.yml"
    (tmp_path / "inventory" / "hosts.yml").write_text("all: {}\n")
    assert default_inventory_path(tmp_path) == tmp_path / "inventory" / "hosts.yml"


def test_saving_through_a_group_vars_symlink_keeps_the_link(inv_dir, tmp_path):
    # the lab inventory's group_vars is a symlink to inventory/group_vars
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "group_vars").symlink_to(inv_dir / "group_vars")
    shutil.copy(inv_dir / "local.yml", lab / "inventory.yml")
    inv = Inventory.load(lab / "inventory.yml")
    assert inv.update_settings({"hetero_max_steps": "50"}) == {}
    inv.save()
    assert (lab / "group_vars").is_symlink()
    assert "hetero_max_steps: 50" in (inv_dir / "group_vars" / "all.yml").read_text()


def test_settings_for_an_inventory_without_group_vars_create_it(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text(
        "all:\n  children:\n    cluster:\n      hosts:\n        lap1:\n          ansible_host: 10.0.0.1\n"
    )
    inv = Inventory.load(path)
    assert not inv.dirty and inv.save() == []
    assert inv.update_settings({"hetero_epochs": "2", "hetero_model": "resnet18"}) == {}
    assert inv.save() == [tmp_path / "group_vars" / "all.yml"]
    assert (
        tmp_path / "group_vars" / "all.yml"
    ).read_text() == "---\nhetero_epochs: 2\nhetero_model: resnet18\n"
    assert not inv.dirty
