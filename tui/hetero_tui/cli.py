"""The `hetero-tui` command line: its arguments, checked before the app starts, and how a path is shown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hetero_tui.services import REPO_ROOT
from hetero_tui.services.inventory import default_inventory_path


def parse_extravars(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"-e {pair!r}: write name=value, e.g. -e hetero_max_steps=5")
        out[key] = value
    return out


def parse(argv: list[str] | None = None) -> dict | int:
    """HeteroApp's arguments from the command line; when they are wrong, the reason printed and an exit
    status instead."""
    parser = argparse.ArgumentParser(prog="hetero-tui", description="The control room of a hetero-cluster.")
    parser.add_argument(
        "-i",
        "--inventory",
        type=Path,
        help="inventory file (default: inventory/mine.yml, else inventory/hosts.yml, else local.yml)",
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
    return {"inventory_path": inventory, "extravars": extravars, "artifacts": args.artifacts}


def display_path(path: Path) -> str:
    """A path as the user thinks of it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
