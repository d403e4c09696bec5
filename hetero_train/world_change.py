"""The trainer's changes of world: ranks the planner leaves out, and ranks that leave by themselves.

Both end the same way (`enter`): the ranks that go on re-form a smaller world (reform.py), re-wrap the
model, re-plan the shares and carry on; files and events keep each rank's original number.

- The planner leaves a rank out (`leave_out`): at a re-plan boundary, every rank agrees from the same
  all-gathered numbers; the left-out ranks print their line and exit 0.
- A rank leaves (`go_on_without`): its heartbeat stopped and the survivors agreed on it (membership.py).
  They were somewhere inside a step or between two. Between steps (logging, re-planning, a snapshot) the
  state is the step's end. Inside a step of exact or bf16 sync nothing but BatchNorm's statistics and the
  random generators changed before the gradients' all-reduce, so those are put back (`StepMark`) and the
  step is taken again in the new world. PowerSGD's error feedback and local SGD's averaging change state
  while they communicate: there the survivors go on from the newest snapshot they all hold.
"""

from __future__ import annotations

import json
import random
import sys

import torch

from . import reform
from .costmodel import predict
from .errors import PeerLost
from .experiment import now
from .metrics import emit
from .rendezvous import WORLD_KEY
from .sampler import GlobalSampler
from .shares import largest_remainder

CLEAN_MODES = ("exact", "bf16")  # nothing but buffers and generators change before their all-reduce


class StepMark:
    """What a step changes before its gradients are combined: BatchNorm's running statistics (the forward)
    and the random generators. Taken at every step's start (a few KB for resnet18), put back when a peer
    leaves during the step."""

    def __init__(self, model: torch.nn.Module):
        self.buffers = [b.detach().clone() for b in model.buffers()]
        self.rng = (torch.get_rng_state(), random.getstate())

    def restore(self, model: torch.nn.Module) -> None:
        with torch.no_grad():
            for buffer, saved in zip(model.buffers(), self.buffers, strict=True):
                buffer.copy_(saved)
        torch.set_rng_state(self.rng[0])
        random.setstate(self.rng[1])


def leave_out(trainer, leave: reform.LeaveOut, names: list[str], advice: dict[int, str]) -> None:
    """Leave out the ranks the planner found too costly: they print their line and stop; the others
    re-form a smaller world and go on from this very step."""
    old = trainer.world
    why = {
        str(old.members[r]): reform.leave_line(
            old.members[r], names[r], *leave.costs[r], leave.steps_s(trainer.global_batch), advice[r]
        )
        for r in leave.left
    }
    kept = [old.members[r] for r in leave.keep]
    trainer.worlds.append({"step": trainer.step, "ranks": kept, "left_out": why})
    world = reform.reform(old, leave.keep)
    if world is None:
        _planner_left(trainer, why[str(trainer.id)], names[old.rank], leave, kept)
        return
    enter(trainer, world, leave.keep, leave.shares, leave.comm_s)
    if trainer.rank == 0:
        print(f"hetero-train: step {trainer.step}: ranks {kept} go on without {sorted(map(int, why))}"
              f" (predicted {leave.predicted:.0f} samples/s against {leave.world_predicted:.0f} with all)",
              file=sys.stderr, flush=True)  # fmt: skip
    emit("world", rank=trainer.id, step=trainer.step, generation=world.generation, ranks=kept, left_out=why,
         shares=trainer.shares, predicted_samples_per_s=round(leave.predicted, 2),
         world_predicted_samples_per_s=round(leave.world_predicted, 2))  # fmt: skip
    # The verdict's forecast is the new world's until it has learned its own timings.
    alone = {r: v for r, v in trainer.verdict.get("alone", {}).items() if int(r) in kept}
    predicted = round(leave.predicted, 2)
    trainer.verdict = dict(step=trainer.step, ranks=kept, predicted_samples_per_s=predicted, alone=alone)
    trainer.metrics.update_run(worlds=trainer.worlds, forecast=trainer.verdict)
    _announce(trainer)


def _announce(trainer) -> None:
    """Rank 0 of a re-formed world writes it into the store: a rank that comes back to the job learns
    there that the others went on without it (rendezvous.join)."""
    world = trainer.world
    if world.rank == 0 and world.store is not None:
        running = {"generation": world.generation, "members": world.members, "step": trainer.step}
        world.store.set(f"{world.prefix}{WORLD_KEY}", json.dumps(running))


def _planner_left(trainer, line: str, name: str, leave: reform.LeaveOut, kept: list[int]) -> None:
    trainer.left = True
    print(f"hetero-train: {line}", file=sys.stderr, flush=True)
    link, saves = leave.costs[trainer.world.rank]
    emit("left_out", rank=trainer.id, step=trainer.step, hostname=name, link_s=round(link, 6),
         compute_saves_s=round(saves, 6), ranks=kept, reason=line, exit_code=0)  # fmt: skip
    trainer.metrics.update_run(worlds=trainer.worlds, left_out=line, finished=now(), final_step=trainer.step)
    trainer.metrics.flush()
    if trainer.world.hosts_store:  # the others' store lives in this process: keep it up until they finish
        reform.wait_for_survivors(trainer.world, len(kept))


def enter(trainer, world, keep: list[int], shares: list[int], comm_s: float) -> None:
    """Switch the trainer to the re-formed `world` of the old ranks `keep`, with the new world's shares."""
    trainer.world, trainer.rank = world, world.rank
    trainer.learner.wrap(world.distributed)
    trainer.balancer = trainer.balancer.subset(keep, shares, comm_s)
    trainer.alone = None  # timed again in the new world (a rank by itself: nothing competes for it)
    trainer.links = [trainer.links[r] for r in keep] if trainer.links else None
    trainer.sampler = GlobalSampler(len(trainer.dataset), trainer.cfg.seed, world.size)
    trainer.snapshots.world = world
    trainer.last_verdict = None
    if trainer.membership is not None:
        trainer.membership.formed(world)


def go_on_without(trainer, departure, in_step: bool) -> None:
    """The survivors agreed that `departure.left` left (membership.py): re-form without them and go on
    from the step they are all at, else from the newest snapshot they all hold. Raises PeerLost (exit 3)
    when the job cannot go on, and stops a rank that was counted out itself."""
    old, cfg = trainer.world, trainer.cfg
    if departure.store_lost:
        raise _stop(trainer, f"{departure.why} (the master's laptop left, or this laptop's link is down)")
    names = {m: n for m, n in zip(old.members, old.names, strict=True)}
    if trainer.id in departure.left:
        _counted_out(trainer, departure, names[trainer.id])
        return
    keep = [r for r, m in enumerate(old.members) if m not in departure.left]
    who = ", ".join(f"rank {m} ({names.get(m, '?')})" for m in departure.left)
    if len(keep) < cfg.min_ranks:
        raise _stop(trainer, f"{who} left ({departure.why}); {len(keep)} ranks are fewer than"
                             f" hetero_min_ranks {cfg.min_ranks}")  # fmt: skip
    clean = not in_step or trainer.learner.recipe.sync[0] in CLEAN_MODES
    if in_step and clean:
        trainer.mark.restore(trainer.learner.model)
    shares, comm_s = _plan(trainer, keep)
    world = reform.reform(old, keep)
    kept = [old.members[r] for r in keep]
    why = {str(m): f"rank {m} ({names.get(m, '?')}) left: {departure.why}" for m in departure.left}
    enter(trainer, world, keep, shares, comm_s)
    at = world.all_gather((trainer.step, trainer.epoch, trainer.offset, clean))
    if not all(a == at[0] and a[3] for a in at):  # somebody's state moved on, or was mid-way: a snapshot
        found = trainer.snapshots.resume(trainer.learner, trainer.balancer)
        if found is None:
            raise _stop(trainer, f"{who} left ({departure.why}) mid-step and no snapshot is held by all")
        _, (trainer.step, trainer.epoch, trainer.offset) = found
    trainer.worlds.append({"step": trainer.step, "ranks": kept, "left_out": why})
    _announce(trainer)
    line = (f"step {trainer.step}: {who} left ({departure.why}, noticed by rank {departure.noticed_by});"
            f" ranks {kept} go on from step {trainer.step}")  # fmt: skip
    if trainer.rank == 0:
        print(f"hetero-train: {line}", file=sys.stderr, flush=True)
    emit("world", rank=trainer.id, step=trainer.step, generation=world.generation, ranks=kept,
         left_out=why, left=sorted(departure.left), reason=departure.why, shares=trainer.shares)  # fmt: skip
    trainer.metrics.update_run(worlds=trainer.worlds)


def _plan(trainer, keep: list[int]) -> tuple[list[int], float]:
    """The survivors' shares: the cost model's equal-finish plan when balancing has one, else the kept
    ranks' shares scaled up to the global batch."""
    models, comm = trainer.balancer.models, trainer.balancer.comm_s or 0.0
    if trainer.cfg.enable_load_balancing and models is not None:
        option = predict(models, keep, trainer.global_batch, comm, links=trainer.links)
        return option.shares, option.comm_s
    return largest_remainder([trainer.shares[r] for r in keep], trainer.global_batch), comm


def _counted_out(trainer, departure, name: str) -> None:
    line = (f"rank {trainer.id} ({name}) was counted out at step {trainer.step}: {departure.why} reached"
            f" rank {departure.noticed_by} (a closed lid, a link that was down); the others go on without it,"
            " so it stops (exit 0); the next launch trains with it again")  # fmt: skip
    trainer.left = True
    print(f"hetero-train: {line}", file=sys.stderr, flush=True)
    emit("left_out", rank=trainer.id, step=trainer.step, hostname=name, reason=line, exit_code=0)
    trainer.metrics.update_run(left_out=line, finished=now(), final_step=trainer.step)
    trainer.metrics.flush()
    if trainer.world.hosts_store:  # the others' store lives in this process: keep it up until they finish
        reform.wait_for_survivors(trainer.world, trainer.world.size - len(departure.left))


def _stop(trainer, what: str) -> PeerLost:
    held = trainer.snapshots.files.steps()
    kept = (
        f"snapshots up to step {held[-1]} are kept in {trainer.snapshots.files.directory}"
        if held
        else "no snapshot yet, so the job restarts from step 0"
    )
    emit("peer_lost", rank=trainer.id, step=trainer.step, snapshot_step=held[-1] if held else None,
         error=what, exit_code=PeerLost.exit_code)  # fmt: skip
    return PeerLost(
        f"rank {trainer.id}: during step {trainer.step + 1}: {what}; {kept}. Exiting with code"
        f" {PeerLost.exit_code}: Docker restarts this rank, which waits at the rendezvous for every rank and"
        " resumes by itself from the newest snapshot they all hold"
    )
