"""Live training metrics from the trainer's structured stdout lines (one JSON object per line).

Events used (hetero_train/trainer.py, "hardware" from start.py): "step" {rank, step, epoch, loss, share,
compute_s, comm_s, step_s, samples_per_s, global_samples_per_s, memory_mb, device, lr}, "plan" {rank, step,
shares, global_batch, reason}, "hardware" {rank, world_size, backend, ...}, "done" {rank, step, ...}. Other
lines are ignored.

Definitions (over the last `window` steps that every rank has reported):
- total throughput  T = Σ samples of those steps (Σ of every rank's share) ÷ Σ their wall time (the slowest
  rank's step_s: a data-parallel step ends when the last rank's gradients are in);
- a rank's compute-only throughput c_i = Σ its share ÷ Σ its compute_s (what it could do with no waiting
  and no communication);
- efficiency  η = T ÷ Σ_i c_i. η = 1 means the cluster runs as fast as its ranks' summed compute speed;
  waiting for a straggler and all-reduce time pull it down.
- straggler: in a synchronous step every rank's wall time is the same (the fast ones wait), so the time
  that stands out is compute_s: rank r is a straggler when the median of its compute_s over the window
  exceeds `straggler_factor` (1.5) × the median of the other ranks' medians.
- where a rank's step goes (time_split, means over the same steps): compute = its compute_s; of the rest
  (comm_s), waiting = how much longer the slowest rank computed that step (max compute_s − its own, at most
  its comm_s): the time its gradients sat ready for the others'; communication = what remains of comm_s, the
  all-reduce that backward did not hide.
- the cluster's loss: the step's loss is summed over the ranks (every rank logs the same value); evaluation
  loss from any event that carries `eval_loss` (and `eval_accuracy`) with its step.
"""

from __future__ import annotations

import json
import statistics
from collections import deque
from dataclasses import dataclass, field

from .planner import Planner

SERIES_FIELDS = ("loss", "samples_per_s", "share", "compute_s", "comm_s", "step_s")


@dataclass(frozen=True)
class StepPoint:
    step: int
    epoch: int
    loss: float
    samples_per_s: float
    share: int
    compute_s: float
    comm_s: float
    step_s: float


@dataclass
class RankSeries:
    """One rank's recent steps (bounded) and what it last said about itself."""

    rank: int
    points: deque = field(default_factory=deque)
    device: str = ""
    host: str = ""  # the inventory host its log comes from
    memory_mb: float | None = None
    done: bool = False

    def steps(self) -> list[int]:
        return [point.step for point in self.points]

    def values(self, name: str) -> list[float]:
        """One of SERIES_FIELDS over the kept steps, oldest first (for a plot)."""
        return [getattr(point, name) for point in self.points]

    @property
    def latest(self) -> StepPoint | None:
        return self.points[-1] if self.points else None


@dataclass(frozen=True)
class TimeSplit:
    """A rank's mean step, split (seconds): compute + communication + waiting = step."""

    compute_s: float
    comm_s: float
    wait_s: float

    @property
    def step_s(self) -> float:
        return self.compute_s + self.comm_s + self.wait_s


@dataclass(frozen=True)
class EvalPoint:
    step: int
    loss: float
    accuracy: float | None


def parse_line(text: str) -> dict | None:
    """The trainer event on this log line, or None (progress text, warnings, tracebacks...)."""
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


class ClusterMetrics:
    """Every rank's series plus the cluster figures; feed it log lines or parsed events, from one thread."""

    def __init__(self, maxlen: int = 1000, window: int = 10, straggler_factor: float = 1.5):
        self.maxlen = maxlen
        self.window = window
        self.straggler_factor = straggler_factor
        self.ranks: dict[int, RankSeries] = {}
        self.world_size: int | None = None
        self.backend: str | None = None
        self.shares: list[int] | None = None  # the latest plan
        self.plans: deque[dict] = deque(maxlen=100)  # plan events, for "why did the split change"
        self.planner = Planner()
        self.evals: dict[int, EvalPoint] = {}  # step -> the evaluation at that step

    def feed_line(self, text: str, rank: int | None = None, host: str = "") -> dict | None:
        """Parse and apply one log line; `rank` (from the container) fills in a missing rank field, `host`
        says where that rank runs."""
        event = parse_line(text)
        if event is not None:
            if rank is not None:
                event.setdefault("rank", rank)
            self.feed(event)
            if host and isinstance(event.get("rank"), int):
                self._series(event["rank"]).host = host
        return event

    def _series(self, rank: int) -> RankSeries:
        if rank not in self.ranks:
            self.ranks[rank] = RankSeries(rank, deque(maxlen=self.maxlen))
        return self.ranks[rank]

    def feed(self, event: dict) -> None:
        kind, rank = event.get("event"), event.get("rank")
        if not isinstance(rank, int):
            return
        self.planner.feed(event)
        self._eval(event)
        series = self._series(rank)
        if kind == "step":
            try:
                point = StepPoint(
                    step=int(event["step"]),
                    epoch=int(event.get("epoch", 0)),
                    loss=float(event["loss"]),
                    samples_per_s=float(event["samples_per_s"]),
                    share=int(event["share"]),
                    compute_s=float(event["compute_s"]),
                    comm_s=float(event["comm_s"]),
                    step_s=float(event.get("step_s", event["compute_s"] + event["comm_s"])),
                )
            except (KeyError, TypeError, ValueError):
                return  # a line from another trainer version: not ours to guess
            if series.points and series.points[-1].step >= point.step:
                # a restart replays steps: keep one point per step, the newest
                while series.points and series.points[-1].step >= point.step:
                    series.points.pop()
            series.points.append(point)
            series.device = event.get("device", series.device)
            series.memory_mb = event.get("memory_mb", series.memory_mb)
            series.done = False
        elif kind == "plan" and event.get("shares"):
            self.shares = list(event["shares"])
            if not self.plans or self.plans[-1].get("step") != event.get("step"):
                self.plans.append(event)
        elif kind == "hardware":
            self.world_size = event.get("world_size", self.world_size)
            self.backend = event.get("backend", self.backend)
        elif kind == "done":
            series.done = True

    # cluster figures -------------------------------------------------------------------------------------
    def _common_steps(self) -> tuple[list[int], dict[int, dict[int, StepPoint]]]:
        """The last `window` steps every known rank has reported, and each rank's points by step."""
        by_rank = {
            rank: {p.step: p for p in series.points} for rank, series in self.ranks.items() if series.points
        }
        if not by_rank or (self.world_size and len(by_rank) < self.world_size):
            return [], by_rank
        common = set.intersection(*(set(points) for points in by_rank.values()))
        return sorted(common)[-self.window :], by_rank

    def total_throughput(self) -> float | None:
        """T in samples/s (see the module docstring), None until every rank has reported a step."""
        steps, by_rank = self._common_steps()
        if not steps:
            return None
        samples = sum(by_rank[r][s].share for r in by_rank for s in steps)
        wall = sum(max(by_rank[r][s].step_s for r in by_rank) for s in steps)
        return samples / wall if wall > 0 else None

    def compute_throughput(self) -> dict[int, float]:
        """c_i per rank in samples/s over the same steps."""
        steps, by_rank = self._common_steps()
        out = {}
        for rank, points in by_rank.items():
            compute = sum(points[s].compute_s for s in steps)
            if steps and compute > 0:
                out[rank] = sum(points[s].share for s in steps) / compute
        return out

    def efficiency(self) -> float | None:
        """η = T ÷ Σ c_i (module docstring); None until known."""
        total, compute = self.total_throughput(), self.compute_throughput()
        if total is None or not compute:
            return None
        return total / sum(compute.values())

    def stragglers(self) -> set[int]:
        """Ranks whose median compute_s over the window exceeds straggler_factor × the others' median."""
        medians = {}
        for rank, series in self.ranks.items():
            recent = [p.compute_s for p in list(series.points)[-self.window :]]
            if len(recent) >= min(3, self.window):
                medians[rank] = statistics.median(recent)
        if len(medians) < 2:
            return set()
        flagged = set()
        for rank, median in medians.items():
            others = statistics.median(m for r, m in medians.items() if r != rank)
            if others > 0 and median > self.straggler_factor * others:
                flagged.add(rank)
        return flagged

    def time_split(self) -> dict[int, TimeSplit]:
        """Per rank, its mean step over the last `window` steps it reported, split (module docstring)."""
        by_step: dict[int, list[StepPoint]] = {}
        for series in self.ranks.values():
            for point in series.points:
                by_step.setdefault(point.step, []).append(point)
        out = {}
        for rank, series in self.ranks.items():
            recent = list(series.points)[-self.window :]
            if not recent:
                continue
            compute = comm = wait = 0.0
            for point in recent:
                slowest = max(p.compute_s for p in by_step[point.step])
                waited = min(point.comm_s, max(0.0, slowest - point.compute_s))
                compute, comm, wait = compute + point.compute_s, comm + point.comm_s - waited, wait + waited
            n = len(recent)
            out[rank] = TimeSplit(compute / n, comm / n, wait / n)
        return out

    # loss ------------------------------------------------------------------------------------------------
    def loss_series(self) -> tuple[list[int], list[float]]:
        """The cluster's loss by step (every rank logs the same summed loss: the lowest rank's is taken)."""
        by_step: dict[int, float] = {}
        for _rank, series in sorted(self.ranks.items(), reverse=True):
            by_step.update((point.step, point.loss) for point in series.points)
        steps = sorted(by_step)
        return steps, [by_step[step] for step in steps]

    def eval_series(self) -> list[EvalPoint]:
        return [self.evals[step] for step in sorted(self.evals)]

    def _eval(self, event: dict) -> None:
        loss, step = event.get("eval_loss"), event.get("step")
        if isinstance(loss, int | float) and isinstance(step, int):
            accuracy = event.get("eval_accuracy")
            accuracy = float(accuracy) if isinstance(accuracy, int | float) else None
            self.evals[step] = EvalPoint(step, float(loss), accuracy)
            while len(self.evals) > self.maxlen:
                del self.evals[min(self.evals)]
