"""`--sync auto`, and which mode would keep a left-out rank: the cost model (costmodel.py) run once per mode.

The modes differ, for the planner, in the bytes a step sends (sync.py, local_sgd.py): exact the fp32
gradients, bf16 half of them, powersgd two thin factors per gradient matrix (the rest as is), local the fp32
weights once every --local-steps steps. So a mode's communication per step is the exact all-reduce's time
scaled by its fraction of the bytes, and its predicted samples/s is the cost model's best subset with that
communication. Auto takes the fastest, but a less exact mode only when it is predicted clearly faster
(MARGIN): each changes the mathematics a little (docs/trainer.md), and a tie is no reason to.

Pure Python (no torch): the trainer gives it parameter shapes and its measurements; the tests call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import costmodel
from .sync_settings import SYNC_MODES

ORDER = SYNC_MODES  # most exact first: exact, bf16, powersgd, local
MARGIN = 0.10  # a less exact mode must be predicted at least 10 % faster than a more exact one


def powersgd_fraction(shapes: Sequence[Sequence[int]], rank: int) -> float:
    """The fraction of the gradient's numbers PowerSGD sends: each tensor of 2 or more dimensions is viewed
    as rows x (the rest) and sent as two factors of `rank` columns when that at least halves it
    (sync.py sets min_compression_rate 2); vectors (biases, norms) go as they are."""
    total = sent = 0
    for shape in shapes:
        numel = math.prod(shape)
        total += numel
        if len(shape) < 2 or numel == 0:
            sent += numel
            continue
        rows, cols = shape[0], numel // shape[0]
        factors = (rows + cols) * min(rank, rows, cols)
        sent += factors if factors * 2 < numel else numel
    return sent / total if total else 1.0


def sent_fractions(shapes: Sequence[Sequence[int]], powersgd_rank: int, local_steps: int) -> dict[str, float]:
    """Per mode, the bytes a step sends as a fraction of exact's fp32 gradients."""
    return {
        "exact": 1.0,
        "bf16": 0.5,
        "powersgd": powersgd_fraction(shapes, powersgd_rank),
        "local": 1.0 / local_steps,  # the weights (as many numbers as the gradients) once a round
    }


def forecasts(
    models: Sequence[costmodel.Affine],
    total: int,
    comm_s: float,
    mode: str,
    fractions: dict[str, float],
    **known,
) -> dict[str, costmodel.Forecast]:
    """Every mode's forecast, from `comm_s` measured (or timed) under `mode`. `known`: best_subset's links,
    names and alone."""
    exact_s = comm_s / fractions[mode]
    return {m: costmodel.best_subset(models, total, exact_s * fractions[m], **known) for m in ORDER}


def choose(found: dict[str, costmodel.Forecast]) -> str:
    """The fastest mode by its best subset's predicted samples/s; a less exact one only past MARGIN."""
    chosen = ORDER[0]
    for mode in ORDER[1:]:
        if found[mode].best.samples_per_s > found[chosen].best.samples_per_s * (1 + MARGIN):
            chosen = mode
    return chosen


def keeping_mode(found: dict[str, costmodel.Forecast], mode: str, rank: int) -> tuple[str, float] | None:
    """The most exact other mode whose best subset keeps `rank`, and its predicted samples/s; None: none."""
    for other in ORDER:
        if other != mode and rank in found[other].best.ranks:
            return other, found[other].best.samples_per_s
    return None


def advice(found: dict[str, costmodel.Forecast], mode: str, left: Sequence[int]) -> dict[int, str]:
    """Per left-out rank, the advice its line ends with."""
    return {r: hint(keeping_mode(found, mode, r)) for r in left}


def hint(keeper: tuple[str, float] | None) -> str:
    """The advice at the end of a left-out rank's line."""
    if keeper is None:
        return (
            "no sync mode keeps it on this link; a larger hetero_global_batch_size gives its compute more to"
            " save; hetero_leave_out_percent: 0 keeps every rank"
        )
    mode, predicted = keeper
    return (
        f"hetero_sync: {mode} would keep it ({predicted:.0f} samples/s predicted);"
        " hetero_leave_out_percent: 0 keeps every rank"
    )


def summary_line(found: dict[str, costmodel.Forecast], chosen: str) -> str:
    """What auto saw and took, for the start's stderr line."""

    def one(mode: str, f: costmodel.Forecast) -> str:
        subset = "" if len(f.best.ranks) == len(f.world.ranks) else f" (ranks {list(f.best.ranks)})"
        return f"{mode} {f.best.samples_per_s:.0f}{subset}"

    seen = ", ".join(one(m, f) for m, f in found.items())
    return f"--sync auto chose {chosen}: predicted samples/s {seen}"
