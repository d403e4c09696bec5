"""Preflight's checks of the user's settings, run on the controller before any host is changed.

One source of truth per rule:
- the trainer's flags are checked by the trainer's own parser (`hetero_train.cli.parse_config`), fed the exact
  command line the rank containers will get (`hetero_trainer_command`) and the environment rank 0 will get;
  its one-line message is re-worded to name the inventory/group_vars variable behind the flag;
- which variables exist is read from the project's own playbooks, roles and inventories, so a name that
  appears nowhere but looks like one that does is a typo ("did you mean hetero_epochs?").

Each filter returns "" when all is well, otherwise ONE line naming the variable and the fix.
"""

from __future__ import annotations

import difflib
import re
import sys
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# Where the project reads its variables; every `hetero_*` name in these files is a known name.
KNOWN_SOURCES = ("site.yml", "playbooks", "roles", "inventory")
# The names a user is meant to set (a typo is matched against these only): the settings file, the example
# inventories (their comments list the per-host knobs), role defaults and the trainer's flag mapping.
SETTING_SOURCES = ("inventory", "roles/*/defaults/main.yml", "roles/rank_spec/vars/main.yml")
NAME = re.compile(r"\bhetero_[a-z0-9_]+\b")
# In roles/rank_spec/vars/main.yml: `  <flag>: "{{ ... hetero_<var> ...`: the variable behind each flag.
FLAG_LINE = re.compile(r"^\s+([a-z][a-z-]*):\s*\"\{\{[^}]*?\b(hetero_[a-z0-9_]+)", re.MULTILINE)
# Environment rank containers get -> the variable it comes from.
ENV_FIELDS = {"MASTER_PORT": "hetero_master_port", "WORLD_SIZE": "hetero_world_size"}
WHERE = "inventory/group_vars/all.yml (or the -e you passed)"
# Ports below 1024 need root to listen on, and rank 0's container runs as uid 1000.
LOWEST_PORT = 1024
MAX_TYPO_EDITS = 2


def _names_in(sources) -> set[str]:
    names: set[str] = set()
    for source in sources:
        for path in REPO.glob(source):
            files = (
                [path]
                if path.is_file()
                else [*path.rglob("*.yml"), *path.rglob("*.yaml"), *path.rglob("*.py")]
            )
            for file in files:
                names.update(NAME.findall(file.read_text(errors="replace")))
    return names


@cache
def known_names() -> frozenset[str]:
    return frozenset(_names_in(KNOWN_SOURCES))


@cache
def setting_names() -> tuple[str, ...]:
    return tuple(sorted(_names_in(SETTING_SOURCES)))


@cache
def flag_fields() -> dict[str, str]:
    """Trainer flag (without --) -> the variable that sets it, from the trainer role's own mapping."""
    text = (REPO / "roles" / "rank_spec" / "vars" / "main.yml").read_text()
    return dict(FLAG_LINE.findall(text))


def _edits(a: str, b: str) -> int:
    """Edit distance with adjacent swaps counted once (optimal string alignment)."""
    d = [[max(i, j) if not (i and j) else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def typo_error(hostvars, hosts) -> str:
    """The first variable, on any host, that the project never reads but that is close to one it does."""
    known = known_names()
    for host in hosts:
        for name in sorted(hostvars[host].keys()):
            if name in known or name.startswith("ansible_") or not isinstance(name, str):
                continue
            close = difflib.get_close_matches(name, setting_names(), n=1, cutoff=0.8)
            # A typo is a slip of a key or two; hetero_lab_ifname is not a typo of hetero_slurm_ifname.
            if close and _edits(name, close[0]) <= MAX_TYPO_EDITS:
                return (
                    f"{name} (seen by host {host}) is not a setting hetero-cluster reads; "
                    f"did you mean {close[0]}? rename it in the inventory or group_vars"
                )
    return ""


def _field_for(message: str, extra_args: list[str]) -> str:
    """The variable behind the flag (or environment variable) a trainer message names."""
    for env_name, field in ENV_FIELDS.items():
        if env_name in message:
            return field
    for flag in re.findall(r"--([a-z][a-z-]*)", message):
        if "--" + flag in extra_args:
            return "hetero_trainer_extra_args"
        if flag in flag_fields():
            return flag_fields()[flag]
    return "hetero_trainer_extra_args"


def trainer_flag_error(
    argv, world_size=None, master_port=29500, master_addr="127.0.0.1", extra_args=()
) -> str:
    """Run the trainer's own validation on the command line rank 0 will get; "" when it accepts it.

    world_size None: the first pass, before any host is contacted (the world size needs the hosts' GPU
    counts); it runs with a world of one and leaves the world-size rules to the second pass."""
    argv = [str(a) for a in argv]
    try:
        port = int(str(master_port))
    except ValueError:
        port = None
    if port is None or not LOWEST_PORT <= port <= 65535:
        return (
            f"hetero_master_port {master_port!r} is not a usable port: rank 0 runs as uid 1000 and "
            f"listens on it, so use {LOWEST_PORT}-65535 (default 29500); fix it in {WHERE}"
        )
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # a controller whose Python lacks the installed package
    from hetero_train.cli import parse_config
    from hetero_train.errors import BadInput

    env = {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": str(world_size or 1),
        "MASTER_ADDR": str(master_addr),
        "MASTER_PORT": str(port),
    }
    try:
        parse_config(argv, env=env)
    except BadInput as e:
        if world_size is None and "world size" in str(e):
            return ""  # judged in the second pass, with the real world size
        field = _field_for(str(e), [str(a) for a in extra_args])
        return f"{field}: {e}; fix {field} in {WHERE}"
    return ""


def world_size_error(given, planned: int, master: str) -> str:
    """hetero_world_size is derived from the inventory; a value typed by hand must agree or go."""
    if given is None or str(given) == "":
        return ""
    if str(given).strip() == str(planned):
        return ""
    return (
        f"hetero_world_size is set to {given!r} but the inventory gives {planned} rank(s) (master {master}); "
        "remove hetero_world_size: it is derived from the inventory (use hetero_ranks per host to change it)"
    )


class FilterModule:
    def filters(self):
        return {
            "hetero_typo_error": typo_error,
            "hetero_trainer_flag_error": trainer_flag_error,
            "hetero_world_size_error": world_size_error,
        }
