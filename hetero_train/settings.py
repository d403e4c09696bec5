"""Every training and cluster setting, defined once: name, type, choices, range, default, one-line help.

Three consumers read this module and nothing else for these rules:
- the trainer's command line (`cli.build_parser`) is generated from it, and `cli.parse_config` checks each
  value with `Setting.problem`;
- preflight (`roles/validate/filter_plugins/settings_check.py`) checks the inventory's values with the same
  `problem`, and builds the rank containers' command line with `trainer_argv`;
- the TUI's settings form (`hetero_tui.services.settings_form`) shows `FORM_SETTINGS`, checked by `problem`.

A value is checked as text, the way it reaches the trainer on a command line, so all three agree: the
problem text is the same, each consumer prefixes the name it knows the setting by (`--model` or
`hetero_model`). Unset (None or "") always means "the trainer's default".

No torch import here: the controller and the TUI import this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

MODELS = ("simple_cnn", "resnet18", "resnet50")
DATASETS = ("synthetic_image", "cifar10", "imagenet")
# "none": no balancing (the shares stay as first planned); the others re-plan the split, see balance.py.
POLICIES = ("none", "static", "dynamic", "adaptive")
BACKENDS = ("auto", "gloo", "nccl")
LOSSES = ("cross_entropy",)
SYNC_MODES = ("exact", "bf16", "powersgd")  # how gradients are combined: hetero_train/sync.py
# Your own code, named the way setuptools names entry points: an importable module, a colon, a callable.
REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
# Ports below 1024 need root to listen on, and rank 0's container runs as uid 1000.
LOWEST_PORT = 1024
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Setting:
    """One setting. `name` is the inventory variable (None: a trainer-only flag); `flag` the trainer's
    command-line flag (None: a cluster setting the trainer never sees)."""

    name: str | None
    flag: str | None
    kind: type  # int, float, str
    default: object
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: re.Pattern | None = None  # for names: what the text must match
    pattern_help: str = ""
    absolute_path: bool = False
    why: str = ""  # why the range is what it is, said with a value outside it
    form: bool = True  # shown in the TUI's settings form
    env: str | None = None  # reaches the rank containers as this environment variable, not as a flag
    user_code: bool = False  # besides its choices, your own `module:callable` (hetero_train/usercode.py)

    @property
    def label(self) -> str:
        return self.name or self.flag or "?"

    def problem(self, value: object) -> str | None:
        """What is wrong with `value` (text as typed, or a YAML value), or None when it is acceptable.

        The text never names the setting: each consumer prefixes its own name for it."""
        text = as_text(value)
        if text == "":
            return None
        if self.choices is not None:
            if text in self.choices or (self.user_code and is_reference(text)):
                return None
            own = ", or your own module:callable" if self.user_code else ""
            return f"choose one of {', '.join(self.choices)}{own} (got {text!r})"
        if self.kind is int:
            if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]+", text):
                return f"must be a whole number {self._range()}{self.why} (got {text!r})"
            return self._out_of_range(int(text))
        if self.kind is float:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if isinstance(value, bool) or not math.isfinite(number):
                return f"must be a number {self._range()}{self.why} (got {text!r})"
            return self._out_of_range(number)
        if self.absolute_path and not text.startswith("/"):
            return f"must be an absolute path on every host, e.g. {self.default} (got {text!r})"
        if self.pattern is not None and not self.pattern.match(text):
            return f"{self.pattern_help} (got {text!r})"
        return None

    def parse(self, value: object):
        """The typed value of an acceptable `value` (None when unset)."""
        text = as_text(value)
        if text == "":
            return None
        return self.kind(text) if self.kind in (int, float) else text

    def _range(self) -> str:
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"in {low:g}-{high:g}"
        if low is not None:
            return f"> {low:g}" if self.kind is float and low == 0 else f">= {low:g}"
        return ""

    def _out_of_range(self, number: float) -> str | None:
        low, high = self.minimum, self.maximum
        too_low = low is not None and (number <= 0 if self.kind is float and low == 0 else number < low)
        if too_low or (high is not None and number > high):
            kind = "whole number" if self.kind is int else "number"
            return f"must be a {kind} {self._range()}{self.why} (got {number:g})"
        return None


def as_text(value: object) -> str:
    """A value as it would stand on a command line; "" for unset."""
    if value is None:
        return ""
    text = str(value).strip()
    return "" if text in ("null", "~", "None") else text


SETTINGS: tuple[Setting, ...] = (
    # model and data
    Setting(
        "hetero_model",
        "--model",
        str,
        "simple_cnn",
        "network to train: built in, or your own factory as module:callable (called with num_classes=)",
        choices=MODELS,
        user_code=True,
    ),
    Setting(
        "hetero_dataset",
        "--dataset",
        str,
        "synthetic_image",
        "data to train on: built in, or your own factory as module:callable (called with data_dir=),"
        " returning a map-style Dataset of (input, target)",
        choices=DATASETS,
        user_code=True,
    ),
    Setting(
        "hetero_loss",
        "--loss",
        str,
        "cross_entropy",
        "the loss: cross_entropy, or your own module:callable (outputs, targets) -> one loss per sample",
        choices=LOSSES,
        user_code=True,
    ),
    Setting(
        "hetero_data_dir",
        None,
        str,
        "/var/lib/hetero-cluster/data",
        "where cifar10/imagenet live on every host (mounted read-only into the rank containers)",
        absolute_path=True,
    ),
    Setting(None, "--data-dir", str, "./data", "where cifar10/imagenet live", form=False),
    Setting(
        "hetero_dataset_size",
        "--dataset-size",
        int,
        None,
        "use only the first N samples (synthetic: N samples)",
        minimum=1,
    ),
    # training
    Setting(
        "hetero_batch_size",
        "--batch-size",
        int,
        None,
        "per-rank batch before the first measurement (default: 64 on a GPU, 32 on a CPU)",
        minimum=1,
    ),
    Setting(
        "hetero_global_batch_size",
        "--global-batch-size",
        int,
        None,
        "samples per step over all ranks (default: the sum of the per-rank batches)",
        minimum=1,
    ),
    Setting("hetero_epochs", "--epochs", int, 1, "passes over the data (the schedule follows it)", minimum=1),
    Setting(
        "hetero_max_steps",
        "--max-steps",
        int,
        None,
        "stop after this many steps (0 or unset: the full epochs)",
        minimum=0,
    ),
    Setting("hetero_learning_rate", "--learning-rate", float, 0.01, "SGD learning rate", minimum=0),
    Setting(
        "hetero_seed",
        "--seed",
        int,
        0,
        "model init and global sample order (same seed: same run, whatever the split)",
        minimum=0,
    ),
    # load balancing
    Setting(
        "hetero_balance_policy",
        "--load-balance-policy",
        str,
        "dynamic",
        "how balancing splits the global batch once it is on (an inventory policy other than none turns it"
        " on): none, static (from a first measurement), dynamic (re-planned), adaptive",
        choices=POLICIES,
    ),
    Setting(
        "hetero_rebalance_every", "--rebalance-every", int, 10, "steps between share re-plans", minimum=1
    ),
    Setting(
        "hetero_leave_out_percent",
        "--leave-out-percent",
        int,
        10,
        "at a re-plan, leave out the ranks whose link costs more than their compute adds when the cost model"
        " predicts the world without them at least this many percent faster; they exit 0 and the others go"
        " on in a smaller world (0: keep every rank)",
        minimum=0,
        maximum=1000,
    ),
    Setting(
        "hetero_sync",
        "--sync",
        str,
        "exact",
        "how the ranks combine gradients: exact (fp32 sum), bf16 (half the bytes), powersgd (low-rank with"
        " error feedback, far fewer bytes)",
        choices=SYNC_MODES,
    ),
    Setting(
        "hetero_powersgd_rank",
        "--powersgd-rank",
        int,
        2,
        "powersgd: the rank of each gradient matrix's approximation (higher: closer to exact, more bytes)",
        minimum=1,
        maximum=64,
    ),
    Setting(
        "hetero_powersgd_warmup",
        "--powersgd-warmup",
        int,
        10,
        "powersgd: exact steps before compression starts",
        minimum=2,
    ),
    Setting(None, "--rank-shares", str, None, "fixed relative per-rank shares, e.g. 3,1", form=False),
    Setting(None, "--gpu-profiles", str, None, "measured speeds (a gpu_profiles.json)", form=False),
    # cluster
    Setting(
        "hetero_backend",
        "--backend",
        str,
        "auto",
        "torch.distributed backend: auto (gloo with any CPU rank, NCCL when every rank has a GPU)",
        choices=BACKENDS,
    ),
    Setting(
        "hetero_master_port",
        "--master-port",
        int,
        29500,
        "rendezvous port on the master; the firewall role admits it from cluster peers",
        minimum=LOWEST_PORT,
        maximum=65535,
        why=", since rank 0 runs as uid 1000 and listens on it",
        env="MASTER_PORT",
    ),
    Setting(
        "hetero_rendezvous_timeout",
        "--rendezvous-timeout",
        float,
        120.0,
        "seconds every rank waits at the rendezvous for all the others",
        minimum=0,
    ),
    Setting(
        "hetero_collective_timeout",
        "--collective-timeout",
        float,
        600.0,
        "seconds a collective waits for a silent peer before this rank stops (exit 3) to resume later;"
        " a slow rank's step must fit in it",
        minimum=0,
    ),
    # outputs
    Setting(None, "--output-dir", str, "./experiments", "where experiments are written", form=False),
    Setting(
        "hetero_experiment_name",
        "--experiment-name",
        str,
        None,
        "files go to <output>/<name>/; a rerun resumes it (default: <model>_<dataset>)",
        pattern=_PLAIN_NAME,
        pattern_help="letters, digits, '.', '_' and '-' only, no '/'",
    ),
    Setting(
        "hetero_save_every",
        "--save-every",
        int,
        100,
        "snapshot every N steps (0: only at the end)",
        minimum=0,
    ),
    Setting(None, "--keep-snapshots", int, 3, "snapshots kept per rank", minimum=1, form=False),
    Setting("hetero_log_every", "--log-every", int, 10, "log a step record every N steps", minimum=1),
)

# Per-host settings (host variables in the inventory): the rank plan (rank_plan.py) and the TUI's host form
# check them with these rules. Not trainer flags, and not in group_vars: their own table.
HOST_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "hetero_ranks",
        None,
        int,
        None,
        "ranks on this host (default: one per GPU, or 1 on a CPU host)",
        minimum=1,
        form=False,
    ),
    Setting(
        "hetero_rank",
        None,
        int,
        None,
        "this host's first rank (default: the lowest free block, in inventory order)",
        minimum=0,
        form=False,
    ),
)
HOST_BY_NAME: dict[str, Setting] = {s.name: s for s in HOST_SETTINGS}

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS if s.name}
BY_FLAG: dict[str, Setting] = {s.flag: s for s in SETTINGS if s.flag}
# What the TUI's settings form shows, in this order.
FORM_SETTINGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.name and s.form)
# The trainer's on/off switch that a policy other than "none" turns on.
BALANCING_SWITCH = "--enable-load-balancing"


def inventory_problem(name: str, value: object) -> str | None:
    """`<name>: <problem>` for an inventory setting, or None (also for names that are not settings)."""
    setting = BY_NAME.get(name)
    problem = setting.problem(value) if setting else None
    return f"{name}: {problem}" if problem else None


def is_reference(text: str) -> bool:
    """Is `text` your own code (`my_pkg.models:build_model`) rather than a built-in name?"""
    return bool(REFERENCE.match(text))


def needs_torchvision(model: str, dataset: str) -> str:
    """Which needs torchvision: "model", "dataset" or "" (models.py and data.py import it lazily; your own
    code brings what it needs)."""
    if model != "simple_cnn" and not is_reference(model):
        return "model"
    return "dataset" if dataset in ("cifar10", "imagenet") else ""


def trainer_argv(values: Mapping[str, object]) -> list[str]:
    """The trainer flags for the inventory's settings (`values`: variable name -> value); unset ones are
    left out so the trainer's default applies. A balancing policy other than none also turns balancing on."""
    argv: list[str] = []
    for setting in SETTINGS:
        if not (setting.name and setting.flag) or setting.env:
            continue
        text = as_text(values.get(setting.name))
        if text:
            argv += [setting.flag, text]
    policy = as_text(values.get("hetero_balance_policy"))
    if policy and policy != "none":
        argv.append(BALANCING_SWITCH)
    return argv
