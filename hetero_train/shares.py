"""Integer shares of a global batch: rounding real-valued weights to whole samples, and memory caps.

Pure functions, used by the balancer, the cost model, the sampler and the first plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


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
