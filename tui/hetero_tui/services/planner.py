"""What the trainer's planner decided, from its events (hetero_train/trainer.py): the sync mode, the split and
why, what the cost model predicts, which ranks it left out and why, and what each rank alone would do.

Events used: "plan" {shares, reason, sync?, predicted_samples_per_s?}, "step" {predicted_samples_per_s?},
"forecast" {predicted_samples_per_s, subsets {"0": samples/s, "0,1": ...}, left_out {rank: why}},
"world" {ranks, left_out {rank: line}, predicted_samples_per_s}, "left_out" {rank, reason},
"sync" {mode, sent_fraction?} (at the end of a run). Every rank prints most of them alike: the latest wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Planner:
    sync: str | None = None  # exact, bf16, powersgd; "none (one rank)"
    sent_fraction: float | None = None  # powersgd: the share of the gradient's numbers sent
    policy: str | None = None  # why the latest split: profile, dynamic, resume...
    shares: list[int] | None = None
    plan_step: int | None = None
    predicted: float | None = None  # samples/s the cost model predicts for the world as it trains now
    alone: dict[int, float] = field(default_factory=dict)  # rank -> samples/s predicted for it alone
    left_out: dict[int, str] = field(default_factory=dict)  # rank -> why the trainer left it out
    would_leave: dict[int, str] = field(default_factory=dict)  # the forecast's: faster without, kept
    members: list[int] | None = None  # the ranks of the re-formed world (None: every rank)

    def feed(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "plan":
            self.shares = list(event.get("shares") or []) or self.shares
            self.policy = event.get("reason", self.policy)
            self.plan_step = event.get("step", self.plan_step)
            self.sync = event.get("sync", self.sync)
        elif kind == "sync":
            self.sync = event.get("mode", self.sync)
            self.sent_fraction = event.get("sent_fraction", self.sent_fraction)
        elif kind == "forecast":
            self._forecast(event)
        elif kind == "world":
            self.members = list(event.get("ranks") or []) or self.members
            self.left_out.update(_by_rank(event.get("left_out")))
            self.alone = {r: v for r, v in self.alone.items() if self.members is None or r in self.members}
        elif kind == "left_out" and isinstance(event.get("rank"), int):
            self.left_out[event["rank"]] = str(event.get("reason") or "left out")
        if kind in ("plan", "step", "forecast", "world"):
            predicted = event.get("predicted_samples_per_s")
            if isinstance(predicted, int | float):
                self.predicted = float(predicted)

    def _forecast(self, event: dict) -> None:
        subsets = event.get("subsets")
        if isinstance(subsets, dict):
            alone = {
                int(key): float(value)
                for key, value in subsets.items()
                if str(key).isdigit() and isinstance(value, int | float)
            }
            self.alone = self._original(alone) or self.alone
        self.would_leave = self._original(_by_rank(event.get("left_out")))

    def _original(self, by_rank: dict) -> dict:
        """A forecast numbers ranks within the world it ran in: back to the ranks' original numbers."""
        if not self.members:
            return by_rank
        return {self.members[r]: v for r, v in by_rank.items() if r < len(self.members)}

    def best_alone(self) -> tuple[int, float] | None:
        """(rank, samples/s) of the fastest rank alone, as the cost model predicts it."""
        if not self.alone:
            return None
        return max(self.alone.items(), key=lambda kv: kv[1])


def _by_rank(value) -> dict[int, str]:
    if not isinstance(value, dict):
        return {}
    return {int(r): str(why) for r, why in value.items() if str(r).isdigit()}
