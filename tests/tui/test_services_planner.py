"""What the metrics screen reads from the trainer's events: where each rank's step goes (compute,
communication, waiting), the evaluation loss, and the planner's decisions."""

from __future__ import annotations

import json

import pytest
from hetero_tui.services.metrics import ClusterMetrics, EvalPoint

from tests.tui.app_helpers import step_line


def test_waiting_is_the_slowest_ranks_extra_compute_and_the_rest_is_communication():
    metrics = ClusterMetrics()
    # one step: rank 1 computes 0.30 s, rank 0 0.10 s; both steps take 0.35 s
    metrics.feed_line(step_line(0, 1, 48, 0.10, step_s=0.35), rank=0)
    metrics.feed_line(step_line(1, 1, 16, 0.30, step_s=0.35), rank=1)
    split = metrics.time_split()
    assert split[0].compute_s == pytest.approx(0.10)
    assert split[0].wait_s == pytest.approx(0.20)  # its gradients were ready 0.20 s before rank 1's
    assert split[0].comm_s == pytest.approx(0.05)  # the all-reduce after that
    assert split[1].wait_s == pytest.approx(0.0) and split[1].comm_s == pytest.approx(0.05)
    assert split[0].step_s == pytest.approx(0.35)


def test_evaluation_loss_from_any_event_that_carries_it():
    metrics = ClusterMetrics()
    metrics.feed_line(json.dumps({"event": "eval", "step": 50, "eval_loss": 1.25, "eval_accuracy": 0.5}), 0)
    metrics.feed_line(json.dumps({"event": "step", "rank": 0, "step": 100, "eval_loss": 1.0}), rank=0)
    metrics.feed_line(step_line(0, 10, 32, 0.1, loss=2.0), rank=0)
    assert metrics.eval_series() == [EvalPoint(50, 1.25, 0.5), EvalPoint(100, 1.0, None)]
    assert metrics.loss_series() == ([10], [2.0])


def _feed(metrics: ClusterMetrics, **event) -> None:
    metrics.feed_line(json.dumps(event), rank=event["rank"])


def test_planner_sync_split_prediction_best_alone_and_left_out_ranks():
    metrics = ClusterMetrics()
    _feed(metrics, event="plan", rank=0, step=0, shares=[32, 32, 32], reason="profile", sync="powersgd")
    _feed(metrics, event="plan", rank=0, step=40, shares=[60, 30, 6], reason="dynamic",
          predicted_samples_per_s=610.0)  # fmt: skip
    # the forecast numbers ranks within its world: here every rank
    _feed(metrics, event="forecast", rank=0, step=40, predicted_samples_per_s=600.0,
          subsets={"0": 420.0, "1": 300.0, "2": 50.0, "0,1": 650.0, "0,1,2": 600.0},
          left_out={"2": "rank 2 (lap3): its link adds 0.4 s per step"})  # fmt: skip
    planner = metrics.planner
    assert (planner.sync, planner.shares, planner.policy, planner.plan_step) == (
        "powersgd",
        [60, 30, 6],
        "dynamic",
        40,
    )
    assert planner.predicted == 600.0
    assert planner.best_alone() == (0, 420.0)
    assert planner.would_leave == {2: "rank 2 (lap3): its link adds 0.4 s per step"}
    assert planner.left_out == {}

    # rank 1 leaves: the others re-form a world of ranks 0 and 2; rank 1 prints its own line
    _feed(metrics, event="world", rank=0, step=40, generation=1, ranks=[0, 2],
          left_out={"1": "rank 1 (lap2) left out: its link adds 0.40 s per step"},
          predicted_samples_per_s=650.0)  # fmt: skip
    _feed(metrics, event="left_out", rank=1, step=40, reason="rank 1 (lap2) left out: its link adds 0.40 s")
    assert planner.left_out == {1: "rank 1 (lap2) left out: its link adds 0.40 s"}
    assert planner.predicted == 650.0 and 1 not in planner.alone
    # the next forecast, in the world of original ranks [0, 2], names them by their place in it
    _feed(metrics, event="forecast", rank=2, step=60, predicted_samples_per_s=640.0,
          subsets={"0": 400.0, "1": 450.0, "0,1": 640.0}, left_out={})  # fmt: skip
    assert planner.best_alone() == (2, 450.0)
    _feed(metrics, event="sync", rank=0, step=80, mode="powersgd", sent_fraction=0.025)
    assert planner.sent_fraction == 0.025
