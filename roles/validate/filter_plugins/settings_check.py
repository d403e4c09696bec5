"""Preflight's checks of the user's settings, run on the controller before any host is changed.

One source of truth per rule:
- each setting's own rule (type, choices, range) is hetero_train/settings.py's, the same the trainer's parser
  and the TUI's form use, with the same words;
- the rules between settings (a global batch smaller than the world) are the trainer's own parser's
  (`hetero_train.cli.parse_config`), fed the exact command line the rank containers will get
  (`hetero_trainer_command`) and the environment rank 0 will get;
- the rules that need the hosts' facts (NCCL needs a GPU on every rank; resnet and cifar10/imagenet need
  torchvision in the image) are the trainer's too, asked with what roles/hardware found;
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
# (and the settings schema's names, see setting_names)
SETTING_SOURCES = ("inventory", "roles/*/defaults/main.yml")
NAME = re.compile(r"\bhetero_[a-z0-9_]+\b")
WHERE = "inventory/group_vars/all.yml (or the -e you passed)"
MAX_TYPO_EDITS = 2


def _settings():
    """hetero_train.settings, also on a controller whose Python lacks the installed package."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from hetero_train import settings

    return settings


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
    return frozenset(_names_in(KNOWN_SOURCES) | set(_settings().BY_NAME))


@cache
def setting_names() -> tuple[str, ...]:
    return tuple(sorted(_names_in(SETTING_SOURCES) | set(_settings().BY_NAME)))


def _field_for_env(name: str) -> str | None:
    """The inventory variable behind an environment variable the rank containers get."""
    if name == "WORLD_SIZE":
        return "hetero_world_size"
    return next((s.name for s in _settings().SETTINGS if s.env == name), None)


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
    for env_name in re.findall(r"\b[A-Z][A-Z_]+\b", message):
        if _field_for_env(env_name):
            return _field_for_env(env_name)
    for flag in re.findall(r"--[a-z][a-z-]*", message):
        if flag in extra_args:
            return "hetero_trainer_extra_args"
        setting = _settings().BY_FLAG.get(flag)
        if setting is not None and setting.name:
            return setting.name
    return "hetero_trainer_extra_args"


def _as_field_message(message: str, extra_args: list[str]) -> str:
    """A trainer message re-worded to name the variable to fix. `--flag: problem` (a setting's own rule)
    becomes `variable: problem`, the words the TUI's form uses."""
    field = _field_for(message, extra_args)
    flag, _, problem = message.partition(": ")
    setting = _settings().BY_FLAG.get(flag)
    if setting is not None and setting.name == field:
        message = problem
    return f"{field}: {message}; fix {field} in {WHERE}"


def settings_error(hostvars, hosts) -> str:
    """The first inventory setting, on any host, that breaks its own rule (type, choices, range)."""
    settings = _settings()
    for host in hosts:
        for name in settings.BY_NAME:
            if name in hostvars[host]:
                problem = settings.inventory_problem(name, hostvars[host][name])
                if problem:
                    return f"{problem}; fix {name} in {WHERE}"
    return ""


def trainer_flag_error(
    argv, world_size=None, master_port=29500, master_addr="127.0.0.1", extra_args=()
) -> str:
    """Run the trainer's own validation on the command line rank 0 will get; "" when it accepts it.

    world_size None: the first pass, before any host is contacted (the world size needs the hosts' GPU
    counts); it runs with a world of one and leaves the world-size rules to the second pass."""
    argv = [str(a) for a in argv]
    port_problem = _settings().inventory_problem("hetero_master_port", master_port)
    if port_problem:
        return f"{port_problem}; fix hetero_master_port in {WHERE}"
    _settings()  # puts the repository on sys.path where the package is not installed
    from hetero_train.cli import parse_config
    from hetero_train.errors import BadInput

    env = {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": str(world_size or 1),
        "MASTER_ADDR": str(master_addr),
        "MASTER_PORT": str(master_port),
    }
    try:
        parse_config(argv, env=env)
    except BadInput as e:
        if world_size is None and "world size" in str(e):
            return ""  # judged in the second pass, with the real world size
        return _as_field_message(str(e), [str(a) for a in extra_args])
    return ""


def _rank_gpus(hostvars, hosts) -> list[bool]:
    """Whether each rank has a GPU, in rank order, from roles/hardware's rank plan facts."""
    ranks = [r for host in hosts for r in hostvars[host].get("hetero_host_ranks") or []]
    return [r.get("gpu") is not None for r in sorted(ranks, key=lambda r: int(r["rank"]))]


def facts_error(backend, model, dataset, hostvars, hosts) -> str:
    """What the trainer would refuse at start that the hosts' facts already show: NCCL with a CPU rank, and a
    model or data set that needs torchvision on a host whose image lacks it."""
    _settings()
    from hetero_train.backend import choose_backend
    from hetero_train.errors import BadInput

    records = [{"has_gpu": gpu} for gpu in _rank_gpus(hostvars, hosts)]
    try:
        choose_backend(str(backend), records)
    except BadInput as e:
        return _as_field_message(str(e), [])
    needs = _settings().needs_torchvision(str(model), str(dataset))
    if needs:
        for host in hosts:
            if not _image_has_torchvision(hostvars[host]):
                field = "hetero_model" if needs == "model" else "hetero_dataset"
                return (
                    f"{field}: {model if needs == 'model' else dataset} needs torchvision, which the "
                    f"{hostvars[host].get('hetero_image_variant', 'cpu')} image of host {host} lacks; add "
                    f"torchvision to hetero_image_extra_requirements (roles/image), or use hetero_model "
                    f"simple_cnn with hetero_dataset synthetic_image"
                )
    return ""


def _image_has_torchvision(host_vars) -> bool:
    # The GPU variant starts from an image with torchvision; the CPU variant has only what roles/image adds.
    if host_vars.get("hetero_image_variant") == "gpu":
        return True
    extra = host_vars.get("hetero_image_extra_requirements") or []
    return any(re.match(r"torchvision\b", str(r)) for r in extra)


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
            "hetero_settings_error": settings_error,
            "hetero_facts_error": facts_error,
            "hetero_world_size_error": world_size_error,
        }
