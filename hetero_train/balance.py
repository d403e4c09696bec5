"""How the global batch is split between ranks: pure functions and a small deterministic planner.

Every rank runs the same Balancer on the same all-gathered timings, so all ranks compute the same plan
at the same step and never disagree. Balancing only moves the split; the step stays exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


def largest_remainder(weights: Sequence[float], total: int, minimum: int = 1) -> list[int]:
    """Integer shares proportional to `weights`, summing to `total`, each at least `minimum`."""
    n = len(weights)
    if n == 0 or total < n * minimum:
        raise ValueError(f"cannot give {n} ranks at least {minimum} of {total} samples")
    wsum = float(sum(weights))
    quotas = [w / wsum * total for w in weights] if wsum > 0 else [total / n] * n
    shares = [math.floor(q) for q in quotas]
    # Hand out what rounding down left, largest fractional part first (ties: lower rank).
    order = sorted(range(n), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    # Every rank keeps at least `minimum`; take the samples from the largest shares.
    for i in range(n):
        while shares[i] < minimum:
            donor = max(range(n), key=lambda j: (shares[j], -j))
            shares[donor] -= 1
            shares[i] += 1
    return shares


def apply_caps(weights: Sequence[float], total: int, caps: Sequence[int | None]) -> list[int]:
    """Shares proportional to weights, but no rank above its cap (e.g. what fits in GPU memory).

    What a capped rank cannot take goes to the others in proportion to their weights. If the caps cannot
    hold the whole batch, the caps are ignored (the batch size is the user's, not ours to shrink).
    """
    n = len(weights)
    if all(c is None for c in caps) or sum(c if c is not None else total for c in caps) < total:
        return largest_remainder(weights, total)
    fixed: dict[int, int] = {}
    while True:
        free = [i for i in range(n) if i not in fixed]
        rest = total - sum(fixed.values())
        wsum = sum(weights[i] for i in free)
        over = [
            i
            for i in free
            if caps[i] is not None and (weights[i] / wsum if wsum else 1 / len(free)) * rest > caps[i]
        ]
        if not over:
            break
        for i in over:
            fixed[i] = max(1, caps[i])
    sub = largest_remainder([weights[i] for i in free], total - sum(fixed.values())) if free else []
    shares = [0] * n
    for i, s in fixed.items():
        shares[i] = s
    for i, s in zip(free, sub, strict=True):
        shares[i] = s
    return shares


def memory_cap(free_bytes: int | None, bytes_per_sample: float | None, headroom: float = 0.8) -> int | None:
    """Largest share that fits in the free device memory, keeping 20% headroom; None if unknown."""
    if free_bytes is None or not bytes_per_sample or bytes_per_sample <= 0:
        return None
    return max(1, int(free_bytes * headroom / bytes_per_sample))


@dataclass
class BalanceSettings:
    ema: float = 0.5  # weight of the newest window in the smoothed throughput
    damping: float = 0.5  # move this fraction of the way to the target per re-plan
    hysteresis: float = 0.03  # ignore targets closer than this fraction of the batch
    change: float = 0.25  # adaptive: a window this far off the smoothed speed means the machine changed
    warmup_windows: int = 1  # the first window is slow (allocation, caches): do not learn from it


@dataclass
class Balancer:
    """Re-plans shares from each rank's measured pure compute time.

    static: never moves. dynamic: EMA-smoothed throughput, damped moves, hysteresis against jitter.
    adaptive: dynamic, plus when a rank's speed jumps (another program, thermal throttling) the old
    average is dropped and the plan moves at once; shares are capped by what fits in device memory.
    """

    policy: str
    shares: list[int]
    settings: BalanceSettings = field(default_factory=BalanceSettings)
    smoothed: list[float] | None = None
    windows_seen: int = 0
    moved_last: bool = False  # the last window ran on new shares: its speeds are not comparable

    @property
    def total(self) -> int:
        return sum(self.shares)

    def observe(
        self, samples: Sequence[int], compute_s: Sequence[float], caps: Sequence[int | None] | None = None
    ) -> list[int] | None:
        """Feed one window of per-rank (samples, compute seconds); returns new shares, or None to keep."""
        self.windows_seen += 1
        if self.policy == "static" or self.windows_seen <= self.settings.warmup_windows:
            return None
        if any(t <= 0 for t in compute_s):
            return None
        speed = [s / t for s, t in zip(samples, compute_s, strict=True)]
        damping = self.settings.damping
        if self.smoothed is None:
            self.smoothed = speed
        elif (
            self.policy == "adaptive"
            and not self.moved_last  # a speed change on unchanged shares means the machine changed
            and any(abs(v / m - 1) > self.settings.change for v, m in zip(speed, self.smoothed, strict=True))
        ):
            self.smoothed, damping = speed, 1.0  # the machine changed: forget the old average, move now
        else:
            a = self.settings.ema
            self.smoothed = [a * v + (1 - a) * m for v, m in zip(speed, self.smoothed, strict=True)]
        self.moved_last = False
        total = self.total
        caps = caps if self.policy == "adaptive" and caps else [None] * len(self.shares)
        target = apply_caps(self.smoothed, total, caps)
        if (
            max(abs(t - s) for t, s in zip(target, self.shares, strict=True))
            <= self.settings.hysteresis * total
        ):
            return None
        moved = [s + damping * (t - s) for s, t in zip(self.shares, target, strict=True)]
        new = largest_remainder(moved, total)
        # Close enough after this move: land on the target instead of creeping towards it.
        if max(abs(t - m) for t, m in zip(target, new, strict=True)) <= self.settings.hysteresis * total:
            new = target
        if new == self.shares:
            return None
        self.shares = new
        self.moved_last = True
        return new

    def state_dict(self) -> dict:
        return {
            "policy": self.policy,
            "shares": list(self.shares),
            "smoothed": self.smoothed,
            "windows": self.windows_seen,
        }

    def load_state_dict(self, state: dict) -> None:
        self.shares = list(state["shares"])
        self.smoothed = state.get("smoothed")
        self.windows_seen = state.get("windows", 0)
        self.moved_last = state.get("moved_last", False)
