"""One mechanism re-forms a world: the ranks that go on build a smaller process group and carry on in memory.

Used when the cost model leaves a rank out (a rank that costs more in communication than it adds in
compute), and meant for a laptop that leaves or comes back (issue 15). At a re-plan boundary every rank of
the old world calls `reform` with the same list of ranks to keep (they all computed it from the same
all-gathered numbers). The old process group is destroyed; the survivors create a new one on the same TCP
store under a new prefix, one per world generation (`<job prefix>gen<g>/`), so no key of an old world is
read by a new one; they are renumbered 0..n-1 in the order of their old ranks. Their DDP replicas are
identical at a step boundary, so nothing is copied: the learner re-wraps its model, the balancer re-plans
for the new world, and since the global sample order never depends on the world size (sampler.py) the
epoch continues exactly from the current step. Files keep each rank's original number (World.members).

The store lives in the process of the job's first rank 0. When that rank is left out, it cannot simply
exit: the store would go with it. It stays running, idle, after its line, and waits until every survivor
of the new world has counted itself out under `<prefix>gen<g>/exited` (World.close does that, after a
normal end and after a failure alike); only then does it exit 0. If the survivors are all killed without
getting that far, the host waits until it is stopped too (docker stop, SIGTERM), like any idle container.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch.distributed as dist

from .costmodel import Forecast
from .rendezvous import World, exited_key, init_group


@dataclass(frozen=True)
class LeaveOut:
    """The planner's verdict: which ranks of the current world go on, and why the others leave."""

    keep: list[int]  # current ranks that go on, in order
    shares: list[int]  # their shares of the global batch in the new world
    comm_s: float  # the new world's predicted communication per step
    costs: dict[int, tuple[float, float]]  # left-out rank -> (link adds s/step, compute saves s/step)
    predicted: float  # samples/s predicted without them
    world_predicted: float  # samples/s predicted with everyone

    def steps_s(self, global_batch: int) -> tuple[float, float]:
        """A step's predicted seconds with everyone and without the left-out ranks."""
        return global_batch / self.world_predicted, global_batch / self.predicted

    @property
    def left(self) -> list[int]:
        return sorted(self.costs)


def decide(forecast: Forecast, percent: float) -> LeaveOut | None:
    """Leave ranks out when the best subset is predicted at least `percent` % faster than the whole world
    (0 or less: never). A clear margin, so that noise in the timings never re-forms a world."""
    best, world = forecast.best, forecast.world
    if percent <= 0 or len(best.ranks) == len(world.ranks):
        return None
    if best.samples_per_s < world.samples_per_s * (1 + percent / 100):
        return None
    costs = {r: forecast.costs.get(r, (0.0, 0.0)) for r in world.ranks if r not in best.ranks}
    return LeaveOut(
        list(best.ranks), list(best.shares), best.comm_s, costs, best.samples_per_s, world.samples_per_s
    )


def leave_line(
    rank: int,
    name: str,
    link_s: float,
    saves_s: float,
    steps_s: tuple[float, float] | None = None,
    advice: str = "hetero_leave_out_percent: 0 keeps every rank",
) -> str:
    """The one line a left-out rank prints. `saves_s` < 0: with this rank the world's compute is slower,
    since its all-reduce competes for the CPUs; `steps_s`: a step's seconds with every rank and without;
    `advice`: what would keep it (sync_choice.hint names the sync mode that would)."""
    compute = (
        f"its compute saves {saves_s:.2f} s"
        if saves_s >= 0
        else f"the compute gets {-saves_s:.2f} s slower with it (the all-reduce competes for the CPUs)"
    )
    steps = f" (a step takes {steps_s[0]:.2f} s with it, {steps_s[1]:.2f} s without)" if steps_s else ""
    return (
        f"rank {rank} ({name}) left out: its link adds {link_s:.2f} s per step and {compute}{steps}; the"
        f" cluster is faster without it ({advice})"
    )


def reform(world: World, keep: Sequence[int]) -> World | None:
    """Every rank of `world` calls this with the same `keep` (current ranks, ascending). Returns the new
    world for a survivor, None for a rank that is left out. The old process group is gone either way."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
    if world.rank not in keep:
        return None
    generation = world.generation + 1
    rank, size = list(keep).index(world.rank), len(keep)
    made = set()
    if size > 1:
        store = dist.PrefixStore(f"{world.prefix}gen{generation}/", world.store)
        made = init_group(world.backend, store, rank, size, world.timeout_s)
    return World(
        rank,
        size,
        world.backend,
        [world.records[r] for r in keep],
        store=world.store,
        prefix=world.prefix,
        timeout_s=world.timeout_s,
        members=[world.members[r] for r in keep],
        generation=generation,
        hosts_store=world.hosts_store,
        connections=made,
    )


def wait_for_survivors(world: World, survivors: int, poll_s: float = 1.0) -> None:
    """A left-out store host: keep the store up until the `survivors` of the next generation are done."""
    key = exited_key(world.prefix, world.generation + 1)
    while True:
        try:
            if world.store.check([key]) and int(world.store.get(key)) >= survivors:
                return
        except Exception:  # noqa: BLE001 - the store itself is here; a failed read is retried
            pass
        time.sleep(poll_s)
