"""What the benchmarks measure from a run's metrics: steady-state samples/s, and a free local port."""

from __future__ import annotations

import itertools
import socket


def steady(steps: list[dict], settle: float) -> float:
    """Global samples/s between rank 0's step records from `settle` of the run on: wall clock, so
    logging, re-planning and re-forming count. Records come every --log-every steps."""
    last = steps[-1]["step"]
    body = [s for s in steps if s["step"] >= settle * last]
    first, end = body[0], body[-1]
    samples = sum(sum(s["shares"]) * (s["step"] - prev["step"]) for prev, s in itertools.pairwise(body))
    return samples / (end["time"] - first["time"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
