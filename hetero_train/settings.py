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

import re
from collections.abc import Mapping

from .elastic_settings import ELASTIC_SETTINGS
from .mesh_settings import MESH_HOST_BY_NAME, MESH_SETTINGS  # noqa: F401 - the schema's API
from .setting import REFERENCE, Setting, as_text, is_reference  # noqa: F401 - the schema's API
from .sync_settings import SYNC_MODES, SYNC_SETTINGS  # noqa: F401 - the schema's API

MODELS = ("simple_cnn", "resnet18", "resnet50")
DATASETS = ("synthetic_image", "cifar10", "imagenet")
# "none": no balancing (the shares stay as first planned); the others re-plan the split, see balance.py.
POLICIES = ("none", "static", "dynamic", "adaptive")
BACKENDS = ("auto", "gloo", "nccl")
LOSSES = ("cross_entropy",)
OPTIMIZERS = ("sgd", "adamw")  # built in; or your own (hetero_train/optim.py)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # per rank: hetero_train/precision.py
# Ports below 1024 need root to listen on, and rank 0's container runs as uid 1000.
LOWEST_PORT = 1024
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_CONTROLLER_PATH = re.compile("^/")  # a directory of the controller: no host's working directory applies


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
    # The data step (playbooks/data.yml) copies a directory of the controller, or a file or archive the
    # controller fetches once, into hetero_data_dir on every host; unset, it does nothing. Not trainer flags.
    Setting(
        "hetero_data_source",
        None,
        str,
        None,
        "a directory on the controller, copied into hetero_data_dir on every host",
        pattern=_CONTROLLER_PATH,
        pattern_help="must be an absolute path on the controller, e.g. /srv/data",
    ),
    Setting(
        "hetero_data_url",
        None,
        str,
        None,
        "or a file or archive the controller fetches once, checks and unpacks, then sends on",
        pattern=re.compile(r"^(https?|ftp|file)://\S+$"),
        pattern_help="must be an http(s), ftp or file URL",
    ),
    Setting(
        "hetero_data_sha256",
        None,
        str,
        None,
        "the sha256 of hetero_data_url's file, as sha256sum prints it",
        pattern=re.compile("^[0-9a-fA-F]{64}$"),
        pattern_help="must be 64 hex digits, as sha256sum prints",
    ),
    Setting(
        "hetero_user_code",
        None,
        str,
        None,
        "your project directory on the controller (with requirements.txt or pyproject.toml), added to the"
        " trainer image as its last layer, so hetero_model/hetero_dataset/hetero_loss can name its code",
        pattern=_CONTROLLER_PATH,
        pattern_help="must be an absolute path on the controller, e.g. /home/me/my_project",
    ),
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
    Setting(
        "hetero_learning_rate",
        "--learning-rate",
        float,
        0.01,
        "peak learning rate: reached after the warm-up, then cosine-decayed over --epochs",
        minimum=0,
    ),
    Setting(
        "hetero_optimizer",
        "--optimizer",
        str,
        "sgd",
        "sgd (momentum 0.9) or adamw, or your own module:callable (called with params=, lr=, weight_decay=)"
        " returning a torch.optim.Optimizer",
        choices=OPTIMIZERS,
        user_code=True,
    ),
    Setting(
        "hetero_weight_decay",
        "--weight-decay",
        float,
        0.0,
        "weight decay: L2 for sgd, decoupled for adamw (0: none)",
        minimum=0,
        zero=True,
    ),
    Setting(
        "hetero_warmup_steps",
        "--warmup-steps",
        int,
        0,
        "steps of linear learning-rate warm-up from lr/N to lr, before the cosine decay",
        minimum=0,
    ),
    Setting(
        "hetero_eval_fraction",
        "--eval-fraction",
        float,
        0.0,
        "hold out this fraction of the data (a seeded pick, never trained on) and evaluate on it"
        " (0: no held-out split)",
        minimum=0,
        maximum=0.5,
        zero=True,
    ),
    Setting(
        "hetero_eval_every",
        "--eval-every",
        int,
        100,
        "with a held-out split: evaluate every N steps and at the end",
        minimum=1,
    ),
    Setting(
        "hetero_data_workers",
        "--data-workers",
        int,
        None,
        "DataLoader worker processes per rank (default: from the rank's CPU quota, at least 1 on a GPU rank)",
        minimum=0,
        maximum=64,
    ),
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
        "hetero_precision",
        "--precision",
        str,
        "auto",
        "each rank's arithmetic: auto (bf16 on GPUs of compute capability >= 8.0, fp16 with loss scaling on"
        " older GPUs, fp32 on CPUs), fp32, bf16, fp16",
        choices=PRECISIONS,
    ),
    *SYNC_SETTINGS,  # --sync and its knobs, --micro-batch: sync_settings.py
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
    *ELASTIC_SETTINGS,  # a rank that leaves: --peer-timeout, --min-ranks (elastic_settings.py)
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
    *MESH_SETTINGS,  # the encrypted mesh between the hosts: mesh_settings.py
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
