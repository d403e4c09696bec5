"""The cost model: affine compute fits, equal-finish shares, the ring comm model, the best subset, and
balancing that converges in a few re-plans (synthetic per-rank timings, no torch)."""

from __future__ import annotations

import random

import pytest

from hetero_train.balance import Balancer
from hetero_train.costmodel import (
    Affine,
    Observations,
    affine_shares,
    best_subset,
    candidates,
    equal_finish,
    fit,
    step_compute_s,
    subset_comm_s,
)

# rank 0: 10 ms per step + 1 ms per sample; rank 1: 20 ms + 4 ms per sample
TRUTH = [Affine(0.01, 0.001), Affine(0.02, 0.004)]


def test_fit_recovers_overhead_and_per_sample_cost():
    m = fit([(64, 0.01 + 0.064), (100, 0.01 + 0.1), (80, 0.01 + 0.08)])
    assert m.a == pytest.approx(0.01) and m.c == pytest.approx(0.001)


def test_one_share_or_a_nonsense_line_is_proportional():
    assert fit([(64, 0.128)]) == Affine(0.0, 0.002)
    # time falling as the share grows (a machine that sped up): proportional through the newest point
    assert fit([(64, 0.2), (100, 0.1)]) == Affine(0.0, 0.001)


def test_equal_finish_makes_every_rank_end_together():
    shares = equal_finish(TRUTH, 128)
    assert sum(shares) == pytest.approx(128)
    ends = [m.time(b) for m, b in zip(TRUTH, shares, strict=True)]
    assert ends[0] == pytest.approx(ends[1])
    # T = (B + sum a/c) / sum 1/c
    assert ends[0] == pytest.approx((128 + 10 + 5) / (1000 + 250))
    assert affine_shares(TRUTH, 128) == [104, 24]


def test_a_rank_whose_overhead_exceeds_the_step_keeps_one_sample_and_caps_hold():
    shares = affine_shares([Affine(0.0, 0.001), Affine(1.0, 0.001)], 64)
    assert shares == [63, 1]
    assert affine_shares(TRUTH, 128, caps=[90, None]) == [90, 38]
    assert sum(affine_shares(TRUTH, 128, caps=[10, 10])) == 128  # caps that cannot hold B are ignored


def test_ring_comm_is_calibrated_on_the_world_and_zero_for_one_rank():
    assert subset_comm_s(1.3, 2, 1) == 0.0
    assert subset_comm_s(1.3, 2, 2) == pytest.approx(1.3)
    assert subset_comm_s(1.5, 4, 2) == pytest.approx(1.5 * 1.0 / 1.5)  # 2(n-1)/n: 1 against 1.5
    # with a per-hop latency the latency part scales with 2(n-1), the rest with the ring factor
    assert subset_comm_s(1.5, 4, 2, alpha_s=0.1) == pytest.approx((1.5 - 0.6) / 1.5 + 0.2)
    # a subset whose slowest link is twice as fast as the world's
    assert subset_comm_s(1.5, 4, 3, slow_link_ratio=0.5) == pytest.approx(1.5 * (4 / 3) / 1.5 * 0.5)


def test_a_slow_link_leaves_the_slow_rank_out_with_a_reason():
    seen = best_subset(TRUTH, 128, world_comm_s=1.3, names=["lap1", "lap2"])
    keys = {o.ranks for o in seen.options}
    assert {(0,), (1,), (0, 1)} <= keys
    assert seen.best.ranks == (0,) and seen.world.ranks == (0, 1)
    assert seen.best.samples_per_s == pytest.approx(128 / (0.01 + 0.128))
    why = seen.left_out[1]
    assert why.startswith("rank 1 (lap2): its link adds 1.300 s per step and its compute saves 0.022 s")
    record = seen.record()
    assert record["best_subset"] == [0] and record["left_out"] == {"1": why} and "0,1" in record["subsets"]


def test_with_a_cheap_link_the_whole_world_is_best():
    seen = best_subset(TRUTH, 128, world_comm_s=0.001)
    assert seen.best.ranks == (0, 1) and seen.left_out == {}
    assert seen.world.shares == [104, 24]


def test_beyond_eight_ranks_each_rank_alone_and_the_fastest_k_are_tried():
    models = [Affine(0.01, 0.001 * (r + 1)) for r in range(10)]
    tried = candidates(models, 640)
    assert all((r,) in tried for r in range(10)) and tuple(range(10)) in tried and (0, 1, 2) in tried
    assert len(candidates(models[:8], 640)) == 2**8 - 1


def windows(balancer: Balancer, truth, count: int, noise: float = 0.0, seed: int = 0, comm: float = 0.05):
    """Feed `count` windows of 10 steps with compute t_i(b) (times 1 +- noise); returns the plans."""
    rng = random.Random(seed)
    history = [list(balancer.shares)]
    for _ in range(count):
        steps = 10
        compute = [
            steps * m.time(b) * (1 + rng.uniform(-noise, noise))
            for m, b in zip(truth, balancer.shares, strict=True)
        ]
        slowest = max(compute)
        waits = [steps * comm + slowest - t for t in compute]  # fast ranks wait for the slowest one
        balancer.observe([b * steps for b in balancer.shares], compute, comm_s=waits, steps=steps)
        history.append(list(balancer.shares))
    return history


def replans_until_close(history: list[list[int]], settled: list[int], within: float = 0.05) -> int:
    """Re-plans (learned windows, after the warm-up one) until every share is within 5% of its settled one."""
    for i, shares in enumerate(history):
        if all(abs(s - t) <= within * t for s, t in zip(shares, settled, strict=True)):
            return max(0, i - 1)  # history[1] follows the warm-up window, which nobody learns from
    raise AssertionError(f"never came within {within:.0%} of {settled}: {history}")


@pytest.mark.parametrize("policy", ["dynamic", "adaptive"])
def test_from_64_64_shares_settle_within_3_replans(policy):
    b = Balancer(policy, [64, 64])
    history = windows(b, TRUTH, 20)
    settled = history[-1]
    assert settled == affine_shares(TRUTH, 128) == [104, 24]
    assert replans_until_close(history, settled) <= 3
    assert b.comm_s == pytest.approx(0.05)
    assert b.predicted_samples_per_s() == pytest.approx(128 / (TRUTH[1].time(24) + 0.05))


def test_three_ranks_settle_within_3_replans():
    truth = [Affine(0.005, 0.0005), Affine(0.02, 0.002), Affine(0.03, 0.004)]
    history = windows(Balancer("dynamic", [86, 85, 85]), truth, 20)
    assert history[-1] == affine_shares(truth, 256)
    assert replans_until_close(history, history[-1]) <= 3


@pytest.mark.parametrize("seed", range(5))
def test_noisy_timings_do_not_make_the_shares_oscillate(seed):
    b = Balancer("dynamic", [64, 64])
    history = windows(b, TRUTH, 60, noise=0.05, seed=seed)
    firsts = [h[0] for h in history]
    assert firsts == sorted(firsts)  # rank 0's share only grows: no overshoot, no back-and-forth
    assert len({tuple(h) for h in history[10:]}) == 1  # settled after a few windows, and stays
    # where it settles, the true step is within one sample of the slow rank (3.4%) of the best one
    assert step_compute_s(TRUTH, history[-1]) <= 1.035 * step_compute_s(TRUTH, [104, 24])
    assert replans_until_close(history, history[-1]) <= 3


def test_adaptive_forgets_a_rank_whose_machine_changed():
    b = Balancer("adaptive", [64, 64])
    windows(b, TRUTH, 10)
    slowed = [Affine(0.01, 0.003), TRUTH[1]]  # rank 0 throttled to a third
    history = windows(b, slowed, 10)
    assert history[-1] == affine_shares(slowed, 128)
    assert replans_until_close(history, history[-1]) <= 3


def test_the_model_survives_a_snapshot():
    b = Balancer("dynamic", [64, 64])
    windows(b, TRUTH, 3)
    c = Balancer("dynamic", [1, 127])
    c.load_state_dict(b.state_dict())
    assert c.models == b.models and c.comm_s == b.comm_s and c.shares == b.shares
    # both go on to the same plans
    assert windows(b, TRUTH, 3, seed=1) == windows(c, TRUTH, 3, seed=1)


def test_observations_keep_a_few_distinct_shares():
    seen = Observations(1, keep=3)
    for share in (10, 20, 30, 40, 40, 40):
        seen.add([share], [0.01 + 0.001 * share])
    assert [p[0] for p in seen.points[0]] == [20, 30, 40]
    assert seen.models()[0].a == pytest.approx(0.01)


def test_a_rank_alone_is_predicted_at_its_measured_uncontended_speed():
    """In the world, the all-reduce's threads share a CPU rank's cores and its compute is slower than alone:
    with `alone` (compute alone / compute in the world, measured) a rank by itself is predicted faster, so
    the fast rank alone can beat a world whose compute the all-reduce slows down."""
    models = [Affine(0.01, 0.004), Affine(0.01, 0.008)]  # in the world: 0.266 s and 0.522 s per 64 samples
    plain = best_subset(models, 128, world_comm_s=0.1)
    assert plain.best.ranks == (0, 1)
    alone = [0.5, 1.0]  # measured: rank 0 takes half the time when nothing competes for its cores
    seen = best_subset(models, 128, world_comm_s=0.1, alone=alone)
    assert seen.best.ranks == (0,)
    assert seen.best.samples_per_s == pytest.approx(128 / (0.5 * (0.01 + 0.004 * 128)))
    assert seen.world.samples_per_s == pytest.approx(plain.world.samples_per_s)  # the world is unchanged


def test_the_rank_behind_the_slow_link_is_the_one_left_out():
    """Three equal ranks, the world's all-reduce slow because rank 1's link is (5 against 900 Mbit/s):
    knowing whose link that is, the planner keeps ranks 0 and 2 instead of training on rank 0 alone."""
    models = [Affine(0.01, 0.004)] * 3
    blind = best_subset(models, 96, world_comm_s=2.0)
    assert blind.best.ranks == (0,)  # without the links, any pair looks as slow as the world
    seen = best_subset(models, 96, world_comm_s=2.0, links=[900.0, 5.0, 900.0])
    assert seen.best.ranks == (0, 2) and list(seen.left_out) == [1]
    assert seen.best.comm_s == pytest.approx(2.0 * (5 / 900) * 1.0 / (4 / 3))


def test_equal_ranks_on_a_slow_link_keep_rank_0_which_holds_the_store():
    """Two equal machines, one slow link between them (whose end, one measurement cannot tell): each alone
    is predicted within timing noise of the other, and rank 0 stays - its process holds the store."""
    models = [Affine(0.002, 0.001), Affine(0.002, 0.001)]
    seen = best_subset(models, 32, world_comm_s=1.2, alone=[0.80, 0.78])  # noise: rank 1 looks 2.5 % faster
    assert seen.options[1].samples_per_s > seen.options[0].samples_per_s
    assert seen.best.ranks == (0,) and list(seen.left_out) == [1]
