"""The settings of how the ranks combine their work (`--sync` and its knobs, `--micro-batch`): part of the
one settings schema, whose list (settings.SETTINGS) takes them from here.

No torch import here: the controller and the TUI import this module.
"""

from __future__ import annotations

from .setting import Setting

# How the ranks combine their work: gradients each step (hetero_train/sync.py), or weights every
# --local-steps steps (local, hetero_train/local_sgd.py).
SYNC_MODES = ("exact", "bf16", "powersgd", "local")  # most exact first
# auto: the planner predicts each mode's samples/s at the start and takes the fastest (sync_choice.py)
SYNC_CHOICES = (*SYNC_MODES, "auto")

SYNC_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "hetero_sync",
        "--sync",
        str,
        "exact",
        "how the ranks combine their work: exact (fp32 sum of gradients), bf16 (half the bytes), powersgd"
        " (low-rank with error feedback, far fewer bytes), local (--local-steps steps apart, then an outer"
        " Nesterov step on the weighted average weight change, DiLoCo), auto (the mode the planner predicts"
        " fastest for this model on these links, timed at the start)",
        choices=SYNC_CHOICES,
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
    Setting(
        "hetero_local_steps",
        "--local-steps",
        int,
        8,
        "local: optimizer steps each rank takes on its own share between two weight averages (H)",
        minimum=1,
    ),
    Setting(
        "hetero_micro_batch",
        "--micro-batch",
        int,
        0,
        "work through a rank's share in chunks of at most N samples, gradients summed, the step unchanged:"
        " a large global batch on a small machine (0: what fits the free memory, measured at the first"
        " step; the whole share when it fits)",
        minimum=0,
    ),
)
