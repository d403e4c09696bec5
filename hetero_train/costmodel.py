"""What a step costs: per-rank compute affine in the share, plus the exposed communication.

A rank's compute per step is t_i(b) = a_i + c_i*b: a_i is what a step costs whatever the share (kernel
launches, the optimizer, Python), c_i the seconds per sample. A synchronous step lasts as long as the
slowest rank's compute plus the all-reduce time that does not overlap backward (comm). From that the
planner picks shares that make every rank finish together, and predicts samples/s for the whole world and
for every subset of it. Pure Python (no torch): the balancer, the trainer's report and the tests share it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from .shares import largest_remainder


@dataclass(frozen=True)
class Affine:
    a: float  # seconds per step whatever the share
    c: float  # seconds per sample

    def time(self, b: float) -> float:
        return self.a + self.c * b


def fit(points: Sequence[tuple[float, float]]) -> Affine:
    """Least squares line through (share, compute seconds per step) points.

    One distinct share cannot tell overhead from per-sample cost: then a = 0 (proportional). A line with
    a negative overhead or slope is noise or a machine that changed under us: proportional through the
    newest point, which is the one that describes the machine now.
    """
    n = len(points)
    bm = sum(b for b, _ in points) / n
    tm = sum(t for _, t in points) / n
    sbb = sum((b - bm) ** 2 for b, _ in points)
    if sbb >= 0.25:  # shares at least about a sample apart
        c = sum((b - bm) * (t - tm) for b, t in points) / sbb
        a = tm - c * bm
        if c > 0 and a >= 0:
            return Affine(a, c)
    b, t = points[-1]
    return Affine(0.0, t / b)


def equal_finish(
    models: Sequence[Affine], total: int, caps: Sequence[int | None] | None = None
) -> list[float]:
    """Real-valued shares summing to `total` that make every rank's compute end at the same time T.

    T = (B + sum a_i/c_i) / sum 1/c_i, b_i = (T - a_i)/c_i. A rank that would get less than 1 sample (its
    overhead alone exceeds T) or more than its cap is pinned there and the others are solved again. Caps
    that cannot hold the batch are ignored: the batch size is the user's, not ours to shrink.
    """
    n = len(models)
    caps = list(caps) if caps is not None else [None] * n
    if sum(c if c is not None else total for c in caps) < total:
        caps = [None] * n
    pinned: dict[int, float] = {}
    while True:
        free = [i for i in range(n) if i not in pinned]
        rest = total - sum(pinned.values())
        if not free:
            return [pinned[i] for i in range(n)]
        inv = sum(1 / models[i].c for i in free)
        t = (rest + sum(models[i].a / models[i].c for i in free)) / inv
        shares = {i: (t - models[i].a) / models[i].c for i in free}
        low = [i for i in free if shares[i] < 1]
        high = [i for i in free if caps[i] is not None and shares[i] > caps[i]]
        if not low and not high:
            return [pinned.get(i, shares.get(i, 0.0)) for i in range(n)]
        for i in low:
            pinned[i] = 1.0
        for i in high if not low else []:  # pin the too-small first: that frees samples for the rest
            pinned[i] = float(max(1, caps[i]))


def affine_shares(
    models: Sequence[Affine], total: int, caps: Sequence[int | None] | None = None
) -> list[int]:
    """Integer shares (sum `total`, each >= 1) closest to the equal-finish split."""
    return largest_remainder(equal_finish(models, total, caps), total)


def step_compute_s(models: Sequence[Affine], shares: Sequence[float]) -> float:
    """How long the step's compute lasts: the slowest rank's."""
    return max(m.time(b) for m, b in zip(models, shares, strict=True))


def ring_factor(n: int) -> float:
    """The bytes a ring all-reduce sends per rank, in units of the buffer: 2(n-1)/n."""
    return 2 * (n - 1) / n if n > 1 else 0.0


def subset_comm_s(
    world_comm_s: float, world_size: int, n: int, alpha_s: float = 0.0, slow_link_ratio: float = 1.0
) -> float:
    """Communication per step of n ranks, from what the whole world measured.

    Ring model: 2(n-1)/n * S/beta + 2(n-1)*alpha. One measurement cannot separate the two terms, so the
    per-hop latency alpha is given (0: bandwidth-bound) and the rest is the bandwidth term, scaled by the
    ring factor and by how much slower the world's slowest link is than the subset's (slow_link_ratio =
    world's slowest bandwidth / subset's). A rank alone communicates nothing.
    """
    if n <= 1 or world_size <= 1:
        return 0.0
    latency = 2 * (world_size - 1) * alpha_s
    bandwidth = max(0.0, world_comm_s - latency) * ring_factor(n) / ring_factor(world_size)
    return bandwidth * slow_link_ratio + 2 * (n - 1) * alpha_s


# Predictions this close (as a fraction) are the same within the timings' noise: two equal machines' "alone"
# predictions came out 10-15 % apart in the lab (the alone probe against a model fitted in the world).
TIE = 0.15


@dataclass(frozen=True)
class Option:
    """A set of ranks and what the model predicts for them."""

    ranks: tuple[int, ...]
    shares: list[int]
    compute_s: float  # the slowest rank's compute per step
    comm_s: float
    samples_per_s: float


@dataclass(frozen=True)
class Forecast:
    world: Option
    best: Option
    options: list[Option]  # every subset tried
    left_out: dict[int, str] = field(default_factory=dict)  # rank -> why the best subset is without it
    # rank -> (seconds per step its link adds, seconds per step its compute saves), for the same ranks
    costs: dict[int, tuple[float, float]] = field(default_factory=dict)

    def record(self) -> dict:
        """The JSON fields of a forecast event."""
        return {
            "predicted_samples_per_s": round(self.world.samples_per_s, 2),
            "comm_s": round(self.world.comm_s, 6),
            "best_subset": list(self.best.ranks),
            "best_subset_shares": self.best.shares,
            "best_subset_samples_per_s": round(self.best.samples_per_s, 2),
            "subsets": {",".join(map(str, o.ranks)): round(o.samples_per_s, 2) for o in self.options},
            "left_out": {str(r): why for r, why in self.left_out.items()},
        }


def predict(
    models: Sequence[Affine],
    ranks: Sequence[int],
    total: int,
    world_comm_s: float,
    alpha_s: float = 0.0,
    links: Sequence[float] | None = None,
    caps: Sequence[int | None] | None = None,
    alone: Sequence[float] | None = None,
) -> Option:
    """The equal-finish plan of `ranks` alone for the whole global batch, and its samples/s.

    `alone`: per rank, its compute time with no all-reduce running over its time in the world (<= 1;
    measured, see Learner.time_alone). A rank by itself communicates nothing, so nothing slows it."""
    sub = [models[r] for r in ranks]
    if alone is not None and len(ranks) == 1:
        f = alone[ranks[0]]
        sub = [Affine(sub[0].a * f, sub[0].c * f)]
    shares = affine_shares(sub, total, [caps[r] for r in ranks] if caps else None)
    ratio = min(links) / min(links[r] for r in ranks) if links else 1.0
    comm = subset_comm_s(world_comm_s, len(models), len(ranks), alpha_s, ratio)
    compute = step_compute_s(sub, shares)
    return Option(tuple(ranks), shares, compute, comm, total / (compute + comm))


def candidates(models: Sequence[Affine], total: int) -> list[tuple[int, ...]]:
    """Every non-empty subset for up to 8 ranks; beyond, each rank alone and the k fastest for every k."""
    n = len(models)
    if n <= 8:
        return [s for k in range(1, n + 1) for s in itertools.combinations(range(n), k)]
    fastest = sorted(range(n), key=lambda r: models[r].time(total / n))
    return [(r,) for r in range(n)] + [tuple(sorted(fastest[:k])) for k in range(2, n + 1)]


def best_subset(
    models: Sequence[Affine],
    total: int,
    world_comm_s: float,
    alpha_s: float = 0.0,
    links: Sequence[float] | None = None,
    caps: Sequence[int | None] | None = None,
    names: Sequence[str] | None = None,
    alone: Sequence[float] | None = None,
) -> Forecast:
    """Predicted samples/s of the whole world and of every subset, the best one, and for each rank it
    leaves out what that rank's link costs per step against what its compute saves. Report only."""
    options = [
        predict(models, s, total, world_comm_s, alpha_s, links, caps, alone)
        for s in candidates(models, total)
    ]
    world = options[-1]
    top = max(options, key=lambda o: (o.samples_per_s, len(o.ranks)))  # a tie keeps more ranks
    # Subsets of one size within TIE of each other differ by timing noise (equal machines, one link whose
    # end is unknown): the lowest ranks win, so rank 0, whose process holds the store, keeps training.
    best = min(
        (
            o
            for o in options
            if len(o.ranks) == len(top.ranks) and o.samples_per_s >= top.samples_per_s * (1 - TIE)
        ),
        key=lambda o: o.ranks,
    )
    left_out, costs = {}, {}
    for r in sorted(set(world.ranks) - set(best.ranks)):
        more = predict(models, sorted((*best.ranks, r)), total, world_comm_s, alpha_s, links, caps, alone)
        who = f"rank {r} ({names[r]})" if names else f"rank {r}"
        costs[r] = (more.comm_s - best.comm_s, best.compute_s - more.compute_s)
        left_out[r] = (
            f"{who}: its link adds {more.comm_s - best.comm_s:.3f} s per step and its compute saves"
            f" {best.compute_s - more.compute_s:.3f} s (negative: the all-reduce slows the others' compute);"
            f" predicted {best.samples_per_s:.0f} samples/s without it, {more.samples_per_s:.0f} with it"
        )
    return Forecast(world, best, options, left_out, costs)


@dataclass
class Observations:
    """What the model has learned so far: per rank a few distinct shares, each with its smoothed compute
    seconds per step, and the smoothed exposed communication per step.

    Points are kept per distinct share (not per window) so that a plan that stays put for many windows
    does not crowd out the other shares the slope needs; the newest `keep` distinct shares are kept.
    """

    size: int
    ema: float = 0.125  # the least weight a new window at a known share gets (a mean over the first 8)
    keep: int = 3
    # per rank: [share, seconds, windows averaged], oldest first
    points: list[list[list[float]]] = field(default_factory=list)
    comm_s: float | None = None
    windows: int = 0

    def __post_init__(self) -> None:
        if not self.points:
            self.points = [[] for _ in range(self.size)]

    def add(self, shares: Sequence[float], compute_s: Sequence[float], comm_s: float | None = None) -> None:
        """One window: each rank's mean share and mean compute seconds per step, and the step's comm."""
        for pts, b, t in zip(self.points, shares, compute_s, strict=True):
            near = next((p for p in pts if abs(p[0] - b) < 0.5), None)
            if near is None:
                pts.append([b, t, 1])
            else:  # the same share again: average out the jitter; it is now the newest point
                pts.remove(near)
                w = max(1 / (near[2] + 1), self.ema)  # a plain mean at first, then an EMA (machines change)
                pts.append([w * b + (1 - w) * near[0], w * t + (1 - w) * near[1], near[2] + 1])
            del pts[: -self.keep]
        if comm_s is not None:
            w = max(1 / (self.windows + 1), self.ema)
            self.comm_s = comm_s if self.comm_s is None else w * comm_s + (1 - w) * self.comm_s
        self.windows += 1

    def forget(self, ranks: Sequence[int]) -> None:
        """These ranks' machines changed: what was learned about them no longer holds."""
        for r in ranks:
            self.points[r] = []

    def models(self) -> list[Affine] | None:
        if any(not pts for pts in self.points):
            return None
        return [fit([(p[0], p[1]) for p in pts]) for pts in self.points]

    def state_dict(self) -> dict:
        return {"points": self.points, "comm_s": self.comm_s, "windows": self.windows}

    def load_state_dict(self, state: dict) -> None:
        self.points = [[list(p) for p in pts] for pts in state["points"]]
        self.comm_s, self.windows = state.get("comm_s"), state.get("windows", 0)
