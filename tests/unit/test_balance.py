"""The balancer: integer shares, convergence without oscillation, reaction to speed changes, memory caps."""

from __future__ import annotations

import random

import pytest
import torch

from hetero_train import hardware
from hetero_train.balance import Balancer
from hetero_train.shares import apply_caps, largest_remainder, memory_cap


@pytest.mark.parametrize(
    ("weights", "total", "expected"),
    [([3, 1], 32, [24, 8]), ([1, 1, 1], 10, [4, 3, 3]), ([1000, 1], 8, [7, 1]), ([0.5, 0.5], 2, [1, 1])],
)
def test_largest_remainder_sums_to_total_and_keeps_one_each(weights, total, expected):
    assert largest_remainder(weights, total) == expected


def simulate(
    balancer: Balancer, speeds, windows: int, overhead: float = 0.002, noise: float = 0.03, seed: int = 0
):
    """Ranks whose compute time is overhead + share / speed (with a little noise); returns the plans."""
    rng = random.Random(seed)
    history = [list(balancer.shares)]
    for w in range(windows):
        sp = speeds(w) if callable(speeds) else speeds
        steps = 5
        samples = [s * steps for s in balancer.shares]
        compute = [
            steps * (overhead + s / v) * (1 + rng.uniform(-noise, noise))
            for s, v in zip(balancer.shares, sp, strict=True)
        ]
        balancer.observe(samples, compute)
        history.append(list(balancer.shares))
    return history


@pytest.mark.parametrize("policy", ["dynamic", "adaptive"])
def test_shares_converge_to_the_speed_ratio_without_oscillating(policy):
    b = Balancer(policy, [256, 256])
    history = simulate(b, [3000.0, 1000.0], windows=40)
    final = history[-1]
    assert abs(final[0] - 384) <= 0.04 * 512  # 3:1 of 512, within the hysteresis band
    firsts = [h[0] for h in history]
    assert firsts == sorted(firsts)  # rank 0's share only ever grows: no overshoot, no back-and-forth
    assert len({tuple(h) for h in history[-20:]}) == 1  # settled: no re-plans in the last 20 windows


def test_static_never_moves():
    b = Balancer("static", [256, 256])
    assert simulate(b, [3000.0, 1000.0], windows=10)[-1] == [256, 256]


def test_adaptive_follows_a_machine_that_slows_down_faster_than_dynamic():
    def speeds(w):  # rank 0 gets throttled to a third of its speed at window 20
        return [3000.0, 1000.0] if w < 20 else [1000.0, 1000.0]

    reached = {}
    for policy in ("dynamic", "adaptive"):
        history = simulate(Balancer(policy, [384, 128]), speeds, windows=40)
        assert abs(history[-1][0] - 256) <= 0.04 * 512
        reached[policy] = next(w for w, h in enumerate(history) if w > 20 and abs(h[0] - 256) <= 0.04 * 512)
    assert reached["adaptive"] <= 22 and reached["adaptive"] < reached["dynamic"]


def test_adaptive_caps_a_share_by_device_memory():
    b = Balancer("adaptive", [256, 256])
    for _ in range(5):
        b.observe(
            [5 * s for s in b.shares],
            [5 * s / v for s, v in zip(b.shares, [9000.0, 1000.0], strict=True)],
            caps=[300, None],
        )
    assert b.shares[0] <= 300 and sum(b.shares) == 512


def test_caps_that_cannot_hold_the_batch_are_ignored():
    assert apply_caps([1, 1], 100, [10, 10]) == [50, 50]
    assert apply_caps([9, 1], 100, [60, None]) == [60, 40]


def test_memory_cap_from_a_faked_gpu(monkeypatch):
    # Fakes torch.cuda's memory queries for a GPU this machine does not have.
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (6 * 2**30, 8 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda dev=None: 2 * 2**30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda dev=None: 1 * 2**30)
    available = hardware.gpu_available_bytes("cuda:0")
    assert available == 7 * 2**30
    assert memory_cap(available, bytes_per_sample=56 * 2**20) == int(7 * 2**30 * 0.8 / (56 * 2**20))
    assert hardware.gpu_available_bytes("cpu") is None and memory_cap(None, 1.0) is None


def test_state_round_trips():
    b = Balancer("dynamic", [256, 256])
    simulate(b, [3000.0, 1000.0], windows=5)
    c = Balancer("dynamic", [1, 511])
    c.load_state_dict(b.state_dict())
    assert (c.shares, c.smoothed, c.windows_seen) == (b.shares, b.smoothed, b.windows_seen)
