"""One settings schema, three consumers: the trainer's parser, preflight's check and the TUI's form accept
the same values and refuse the same values, in the same words (hetero_train/settings.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hetero_tui.services.settings_form import SETTINGS_FIELDS, validate_settings

from hetero_train import settings
from hetero_train.cli import parse_config
from hetero_train.errors import BadInput

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "hetero_settings_check", REPO / "roles" / "validate" / "filter_plugins" / "settings_check.py"
)
settings_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(settings_check)
PREFLIGHT_SUFFIX = f"; fix {{name}} in {settings_check.WHERE}"
ENV = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def _probe_values(setting: settings.Setting) -> list[object]:
    """Values on both sides of every rule of the setting, as typed and as YAML would give them."""
    values: list[object] = ["", None, "x y", True]
    if setting.choices:
        values += [*setting.choices, "bogus", setting.choices[0].upper()]
    if setting.kind in (int, float):
        low = setting.minimum if setting.minimum is not None else 0
        values += [low - 1, low, low + 1, str(low), "1.5", 2.5, "-3", "nan", "inf", "ten", 10**6]
        if setting.maximum is not None:
            values += [setting.maximum, setting.maximum + 1]
    if setting.user_code:  # your own code: module:callable, and near misses of it
        values += ["my_pkg.models:build", "my_pkg.models", "my_pkg:", ":build", "my-pkg:build", "a.b:c.d"]
    if setting.absolute_path:
        values += ["data", "/srv/data", "./data"]
    if setting.pattern is not None:
        values += ["a/b", "..", "run-2.b_c", "-x"]
    return values


CASES = [(s, v) for s in settings.SETTINGS if s.name for s in [s] for v in _probe_values(s)]


def _tui(name: str, value: object) -> str | None:
    return validate_settings({name: "" if value is None else str(value)}).get(name)


def _preflight(name: str, value: object) -> str | None:
    """The inventory value's own check, then the trainer's parser on the command line launch would run."""
    message = settings_check.settings_error({"lap1": {name: value}}, ["lap1"])
    if not message:
        argv = settings.trainer_argv({name: value})
        port = value if name == "hetero_master_port" and value not in (None, "") else 29500
        message = settings_check.trainer_flag_error(argv, 1, port, "127.0.0.1", [])
    return message or None


def _trainer(setting: settings.Setting, value: object) -> str | None:
    """The trainer's answer when the value reaches it as launch passes it: a flag, or MASTER_PORT."""
    if setting.flag is None:
        return None
    text = settings.as_text(value)
    if setting.env:
        argv, env = [], dict(ENV, **{setting.env: text})
    else:
        # --flag=value: argparse would take a value such as "-x" in "--flag -x" for an option of its own
        argv, env = ([f"{setting.flag}={text}"] if text else []), ENV
    try:
        parse_config([*argv, "--output-dir", "/nonexistent/out"], env=env)
    except BadInput as e:
        return str(e)
    return None


@pytest.mark.parametrize(("setting", "value"), CASES, ids=[f"{s.name}={v!r}" for s, v in CASES])
def test_trainer_preflight_and_tui_agree(setting, value):
    problem = setting.problem(value)
    name = setting.name
    tui, preflight, trainer = _tui(name, value), _preflight(name, value), _trainer(setting, value)
    if problem is None:
        assert (tui, preflight, trainer) == (None, None, None)
        return
    assert tui == f"{name}: {problem}"
    assert preflight == f"{name}: {problem}" + PREFLIGHT_SUFFIX.format(name=name)
    if setting.env:
        assert trainer == f"{setting.env}: {problem}; fix {setting.env} or {setting.flag}"
    elif setting.flag:
        assert trainer == f"{setting.flag}: {problem}"


def test_every_inventory_setting_is_in_the_form_and_reaches_the_trainer():
    named = [s for s in settings.SETTINGS if s.name]
    assert list(SETTINGS_FIELDS) == [s.name for s in named]
    # Each trainer setting of the inventory becomes its own flag (the port goes as MASTER_PORT).
    for setting in named:
        if setting.flag and not setting.env:
            assert settings.trainer_argv({setting.name: "7"})[:2] == [setting.flag, "7"]


def test_the_shipped_settings_pass_their_own_rules():
    import yaml

    shipped = yaml.safe_load((REPO / "inventory" / "group_vars" / "all.yml").read_text())
    for name, value in shipped.items():
        assert name in settings.BY_NAME, f"{name} in group_vars/all.yml is not in hetero_train/settings.py"
        assert settings.inventory_problem(name, value) is None


def test_a_policy_other_than_none_turns_balancing_on():
    assert settings.trainer_argv({"hetero_balance_policy": "dynamic"})[-1] == settings.BALANCING_SWITCH
    assert settings.BALANCING_SWITCH not in settings.trainer_argv({"hetero_balance_policy": "none"})
    config = parse_config([*settings.trainer_argv({"hetero_balance_policy": "none"})], env=ENV)
    assert not config.enable_load_balancing


def test_every_setting_is_a_known_name_and_a_near_miss_is_a_typo():
    for name in settings.BY_NAME:
        assert settings_check.typo_error({"lap1": {name: 1}}, ["lap1"]) == ""
    message = settings_check.typo_error({"lap1": {"hetero_learning_rat": 1}}, ["lap1"])
    assert "did you mean hetero_learning_rate?" in message


HOST_CASES = [(s, v) for s in settings.HOST_SETTINGS for v in [*_probe_values(s), 1, 2, 7]]


@pytest.mark.parametrize(("setting", "value"), HOST_CASES, ids=[f"{s.name}={v!r}" for s, v in HOST_CASES])
def test_the_rank_plan_and_the_tui_host_form_agree(setting, value):
    from hetero_tui.services.host_form import whole_number_problem

    from hetero_train.rank_plan import HostSpec, RankPlanError, plan_ranks

    if settings.as_text(value) == "":
        return  # blank: the form leaves the key out, so the rank plan never sees it
    field = "ranks" if setting.name == "hetero_ranks" else "first_rank"
    problem = setting.problem(value)
    try:
        plan_ranks([HostSpec("lap1", "10.0.0.1", 0, **{field: value})])
        plan = None
    except RankPlanError as e:
        plan = str(e)
    form = whole_number_problem(setting.name, value)
    if problem is None:
        assert form is None
        # A first rank above 0 leaves a gap in a one-host cluster: the whole-cluster rule, not this one.
        assert plan is None or plan.startswith("ranks must be 0..0 with no gap, but rank 0 is unused"), plan
    else:
        assert form == f"{setting.name}: {problem}"
        assert plan == f"host lap1: {setting.name}: {problem}; fix it in the inventory"
