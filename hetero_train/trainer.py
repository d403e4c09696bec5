"""The training loop: one Trainer, in the spirit of pytorch/examples' multinode DDP script.

What a step does is learner.py's (exact whatever the split); where its time goes, timing.py's; what a
snapshot holds, resume.py's; everything before the first step, start.py's.
"""

from __future__ import annotations

import math
import sys
import time

import torch
import torch.distributed as dist

from . import (
    costmodel,
    data,
    evaluate,
    hardware,
    loader,
    precision,
    reform,
    rendezvous,
    sync,
    sync_choice,
    world_change,
)
from .balance import Balancer
from .config import Config
from .errors import PeerLost
from .experiment import Experiment, now, run_record, write_profiles
from .fsutil import atomic_write
from .hardware import Hardware
from .learner import Learner, Recipe
from .membership import Membership
from .metrics import MetricsFile, Progress, emit
from .optim import Optim
from .peer_lost import is_lost_peer, peer_lost
from .profiling import StepProfiler
from .resume import Position, Snapshots
from .sampler import GlobalSampler, steps_per_epoch
from .shares import memory_cap
from .snapshot import SnapshotDir
from .start import Start, prepare
from .timing import Throughput, memory_mb


class Trainer:
    def __init__(
        self,
        cfg: Config,
        world: rendezvous.World,
        hw: Hardware,
        dataset,
        start: Start,
        held_out=None,
        membership: Membership | None = None,
    ):
        self.cfg, self.world, self.hw, self.exp = cfg, world, hw, start.exp
        self.rank = world.rank  # in the current world; files and events keep the original number (id)
        self.id = world.original_rank
        self.plan_source = start.plan_source
        self.all_reduce = start.all_reduce  # the timed all-reduce at start (start.py)
        self.links = start.links  # per rank: Mbit/s of its link to rank 0, timed at start (start.py)
        self.sync_fractions = start.sync_fractions  # per sync mode: bytes sent relative to exact's
        self.dataset = dataset
        self.global_batch = start.global_batch
        per_epoch = steps_per_epoch(len(dataset), self.global_batch, world.size)
        # The schedule follows --epochs only, so stopping early with --max-steps and resuming later
        # continues the very same schedule.
        schedule = cfg.epochs * per_epoch
        self.learner = Learner(
            start.model,
            torch.device(hw.device),
            world.distributed,
            cfg.learning_rate,
            schedule,
            Recipe(
                per_sample_loss=start.loss,
                sync=(start.sync, cfg.powersgd_rank, cfg.powersgd_warmup),
                precision=start.precision.name if start.precision else "fp32",
                scale_loss=start.scale_loss,
                local_steps=cfg.local_steps,
                micro_batch=cfg.micro_batch,
            ),
            Optim.of(cfg),
        )
        self.total_steps = min(cfg.max_steps or math.inf, schedule)
        self.sampler = GlobalSampler(len(dataset), cfg.seed, world.size)
        self.feed = loader.Feed(dataset, cfg, hw)  # batches through a DataLoader (loader.py)
        self.evaluation = evaluate.Evaluation(held_out, cfg.eval_every, self.feed)  # no split: never due
        policy = cfg.load_balance_policy if cfg.enable_load_balancing else "static"
        self.balancer = Balancer(policy, list(start.shares))
        self.last_verdict: tuple | None = None  # the last best subset reported on stderr
        self.alone: list[float] | None = None  # per rank: compute alone / compute in the world (_time_alone)
        self.verdict: dict = {}  # the latest forecast, as the run record keeps it for the report
        self.leave_out_percent = cfg.leave_out_percent
        self.left = False  # the planner left this rank out: it trains no more
        self.worlds: list[dict] = []  # each re-formed world: from which step, which ranks, who left and why
        self.membership = membership  # ranks that leave by themselves (--peer-timeout): membership.py
        self.mark: world_change.StepMark | None = None  # what the current step changed before its all-reduce
        self.step, self.epoch, self.offset = 0, 0, 0
        self.throughput = Throughput()
        self.snapshots = Snapshots(self.exp.snapshots, cfg, world, self.global_batch)
        self.metrics = MetricsFile(self.exp.logs / f"rank_{self.id}_metrics.json", self.id)
        self.progress = Progress(int(self.total_steps), self.id)
        trace = self.exp.profiles / f"rank_{self.id}_trace.json"
        self.profiler = StepProfiler(
            cfg.enable_profiling, trace, self.learner.device, first_step=int(self.total_steps > 1)
        )

    @property
    def shares(self) -> list[int]:
        return self.balancer.shares

    # --- the loop ---------------------------------------------------------------------------------
    def train(self) -> None:
        resumed = self._resume()
        info = run_record(
            self.cfg, self.world, self.hw, self.global_batch, self.shares, self.balancer.policy, resumed
        )
        self.metrics.start_run({**info, "all_reduce": self.all_reduce} if self.all_reduce else info)
        emit("plan", rank=self.id, step=self.step, shares=self.shares, global_batch=self.global_batch,
             reason="resume" if resumed is not None else self.plan_source,
             sync=sync.summary(self.learner.sync)["mode"])  # fmt: skip
        while True:
            in_step = False
            try:
                while self.step < self.total_steps and not self.left:
                    in_step = True
                    loss, record = self._train_step()
                    in_step = False
                    self._after_step(loss, record)
                if not self.left:
                    in_step = self.learner.rounds is not None  # local SGD's last average moves the weights
                    self._finish()
                return
            except Exception as error:
                departure = self.membership.agreed(error) if self.membership else None
                if departure is None:
                    raise
                world_change.go_on_without(self, departure, in_step)
                if self.left:
                    return

    def _after_step(self, loss: torch.Tensor, record: dict) -> None:
        self.step += 1
        if self.sampler.epoch_done(self.offset, self.global_batch):
            self._end_epoch()
        evaluated = self._evaluate()
        if evaluated or self.step % self.cfg.log_every == 0 or self.step == self.total_steps:
            self._log(loss, {**record, **evaluated})
        if self.cfg.enable_load_balancing and self.step % self.cfg.rebalance_every == 0:
            self._rebalance()
            if self.left:
                return
        if self.cfg.save_every and self.step % self.cfg.save_every == 0:
            self._snapshot()

    def _train_step(self) -> tuple[torch.Tensor, dict]:
        start = time.perf_counter()  # picking and loading the samples counts as compute
        part, *batch = self.feed.batch(self.sampler, self.epoch, self.offset, self.global_batch, self.shares,
                                       self.rank)  # fmt: skip
        x, y = self.learner.to_device(*batch)
        if self.membership is not None:  # put back if a peer leaves during the step (world_change.py)
            self.mark = world_change.StepMark(self.learner.model)
        self.profiler.before_step(self.step)
        loss, took = self.learner.step(x, y, part.batch, start)
        self.profiler.after_step(self.step)
        self.offset += part.batch
        share = len(part.indices)
        rounds = self.learner.rounds  # local SGD: a round's end averages the weights (local_sgd.py)
        if rounds is not None:
            took = rounds.after_step(took, share, self.sampler.epoch_done(self.offset, self.global_batch))
        self.throughput.add(share, took.compute_s, took.comm_s)
        return loss, {"share": share, "shares": part.shares, **took.fields(share, part.batch)}

    # --- what happens between steps ---------------------------------------------------------------
    def _evaluate(self) -> dict:
        """On the held-out split when it is due (evaluate.py): its numbers, also in the step's record."""
        if not self.evaluation.due(self.step, self.total_steps):
            return {}
        result = self.evaluation.run(self.learner, self.world, self.shares)
        emit("eval", rank=self.id, step=self.step, epoch=self.epoch, **result)
        return result

    def _log(self, loss: torch.Tensor, record: dict) -> None:
        if self.world.distributed:  # every rank holds part of the loss; the step's loss is their sum
            dist.all_reduce(loss, op=dist.ReduceOp.SUM)
        fields = {
            "rank": self.id,
            "step": self.step,
            "epoch": self.epoch,
            "loss": round(float(loss), 6),
            **record,
            "memory_mb": round(memory_mb(self.learner.device), 1),
            "device": self.hw.device,
            "lr": self.learner.lr,
        }
        predicted = self.balancer.predicted_samples_per_s()
        if predicted is not None:  # what the cost model expects of the current plan
            fields["predicted_samples_per_s"] = round(predicted, 2)
        emit("step", **fields)
        self.metrics.add_step({"time": time.time(), **fields})
        self.progress.update(self.step, fields["loss"], fields["global_samples_per_s"])

    def _rebalance(self) -> None:
        cap = memory_cap(hardware.gpu_available_bytes(self.hw.device), self.learner.bytes_per_sample)
        window = self.throughput.take_window()
        gathered = self.world.all_gather((window.samples, window.compute_s, cap, window.comm_s, window.steps))
        samples, compute, caps, comm, steps = (list(col) for col in zip(*gathered, strict=True))
        old = list(self.shares)
        new = self.balancer.observe(samples, compute, caps, comm_s=comm, steps=max(steps))
        if new is not None:
            speeds = [round(s / t, 1) if t else None for s, t in zip(samples, compute, strict=True)]
            policy = self.balancer.policy
            if self.rank == 0:
                print(f"hetero-train: step {self.step}: shares {old} -> {new} ({policy};"
                      f" measured samples/s {speeds})", file=sys.stderr, flush=True)  # fmt: skip
            emit("plan", rank=self.id, step=self.step, shares=new, previous=old, reason=policy,
                 global_batch=self.global_batch, measured_samples_per_s=speeds,
                 **self._model_fields())  # fmt: skip
        self._forecast()

    def _model_fields(self) -> dict:
        """The cost model behind a plan: per-rank a (s/step) and c (s/sample), comm and predicted speed."""
        models, predicted = self.balancer.models, self.balancer.predicted_samples_per_s()
        if models is None or predicted is None:
            return {}
        return {
            "model": [{"a": round(m.a, 6), "c": round(m.c, 9)} for m in models],
            "comm_s": round(self.balancer.comm_s or 0.0, 6),
            "predicted_samples_per_s": round(predicted, 2),
        }

    def _forecast(self) -> None:
        """Every re-plan window: what the model predicts for the whole world and for its best subset, and
        why that subset leaves ranks out. Report only: the world is not re-formed (yet)."""
        models = self.balancer.models
        if models is None or self.balancer.policy == "static":
            return
        names = self.world.names
        if self.alone is None and self.world.size > 1:
            self.alone = self._time_alone(models)
        comm = self.balancer.comm_s or 0.0
        seen = costmodel.best_subset(
            models, self.global_batch, comm, links=self.links, names=names, alone=self.alone
        )
        emit("forecast", rank=self.id, step=self.step, shares=self.shares, alone_factor=self.alone,
             **seen.record())  # fmt: skip
        self.verdict = self._verdict_record(seen)
        self.metrics.update_run(forecast=self.verdict)
        leave = reform.decide(seen, self.leave_out_percent)
        if leave is not None:  # the world without some ranks is clearly faster: they leave, the rest go on
            mode = self.learner.recipe.sync[0]  # each leave line names the mode that would keep its rank
            found = sync_choice.forecasts(models, self.global_batch, comm, mode, self.sync_fractions,
                                          links=self.links, alone=self.alone)  # fmt: skip
            world_change.leave_out(self, leave, names, sync_choice.advice(found, mode, leave.left))
            return
        verdict = (seen.best.ranks, tuple(seen.left_out))
        if self.rank == 0 and seen.left_out and verdict != self.last_verdict:
            print(f"hetero-train: step {self.step}: the cost model predicts {seen.best.samples_per_s:.0f}"
                  f" samples/s with ranks {list(seen.best.ranks)} against {seen.world.samples_per_s:.0f} with"
                  f" all; {'; '.join(seen.left_out.values())} (all ranks keep training)",
                  file=sys.stderr, flush=True)  # fmt: skip
        self.last_verdict = verdict

    def _time_alone(self, models: list[costmodel.Affine]) -> list[float]:
        """Once, at the first forecast: each rank in turn times the next step's batch with no all-reduce
        running, to learn how much the world slows its compute (gloo's threads share a CPU rank's cores).
        Per rank: time alone over time in the world, between 0.2 and 1; a rank alone is predicted with it."""
        took = 0.0
        # Alone, a rank would train on the whole global batch: time that (a CPU's per-sample cost changes
        # with the batch), or its own share on a GPU, whose memory may not hold the whole batch.
        whole = self.learner.device.type == "cpu"
        shares = [self.global_batch] if whole else self.shares
        part = self.sampler.step(
            self.epoch, self.offset, self.global_batch, shares, 0 if whole else self.rank
        )
        for turn in range(self.world.size):  # one at a time: machines that share cores (the lab) would
            self.world.barrier()  # otherwise slow each other down, and alone means alone
            if turn == self.rank:
                start = time.perf_counter()
                x, y = self.learner.to_device(*data.load_batch(self.dataset, part.indices))
                took = time.perf_counter() - start + self.learner.time_alone(x, y)
        gathered = self.world.all_gather((took, len(part.indices)))
        return [
            round(min(1.0, max(0.2, t / m.time(b))), 3) for (t, b), m in zip(gathered, models, strict=True)
        ]

    def _verdict_record(self, seen: costmodel.Forecast) -> dict:
        """The latest forecast in the run record, ranks by their original numbers: the report's verdict
        (predicted samples/s of this world and of each rank alone) reads it."""
        ids = self.world.members
        alone = {str(ids[o.ranks[0]]): round(o.samples_per_s, 2) for o in seen.options if len(o.ranks) == 1}
        return {
            "step": self.step,
            "ranks": list(ids),
            "predicted_samples_per_s": round(seen.world.samples_per_s, 2),
            "alone": alone,
        }

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.offset = 0
        if self.rank == 0:
            path = self.exp.checkpoints / f"model_epoch_{self.epoch}.pth"
            atomic_write(path, lambda f: torch.save(self.learner.model.state_dict(), f))

    def _snapshot(self) -> None:
        at = Position(self.step, self.epoch, self.offset)
        path = self.snapshots.save(self.learner, self.balancer, at)
        emit("snapshot", rank=self.id, step=self.step, epoch=self.epoch, path=str(path))
        self.metrics.flush()

    def _resume(self) -> int | None:
        found = self.snapshots.resume(self.learner, self.balancer)
        if found is None:
            return None
        step, (self.step, self.epoch, self.offset) = found
        emit("resume", rank=self.id, step=self.step, epoch=self.epoch, offset=self.offset, shares=self.shares)
        return step

    def _finish(self) -> None:
        self.profiler.close()
        if self.snapshots.newest() != self.step:
            self._snapshot()
        if self.learner.rounds is not None:  # after the snapshot, which a resumed run continues the round of
            self.learner.rounds.average()
        speeds = self.world.all_gather(self.throughput.run.samples_per_s)
        if self.rank == 0:
            path = self.exp.checkpoints / "final.pt"
            atomic_write(path, lambda f: torch.save({"model": self.learner.model.state_dict()}, f))
            write_profiles(self.exp, self.world, self.global_batch, speeds)
        self.metrics.update_run(finished=now(), final_step=self.step, final_shares=self.shares)
        self.metrics.flush()
        emit("sync", rank=self.id, step=self.step, **sync.summary(self.learner.sync))
        emit("done", rank=self.id, step=self.step, epoch=self.epoch, shares=self.shares,
             experiment=str(self.exp.root))  # fmt: skip
        self.world.barrier()  # nobody tears the process group down while another still needs it


def run(cfg: Config) -> int:
    hw = hardware.detect(cfg.dist.local_rank)
    hardware.apply(hw)
    hw = precision.probe_cpu(hw, cfg.precision)
    dataset = data.open_dataset(cfg.dataset, cfg.data_dir, cfg.dataset_size, cfg.seed)
    dataset, held_out = evaluate.split(dataset, cfg.eval_fraction, cfg.seed, cfg.dist.world_size)
    world = rendezvous.join(
        cfg.dist, hw.record(), cfg.backend, cfg.rendezvous_timeout, cfg.collective_timeout
    )
    trainer = None
    membership = Membership.for_run(world, cfg.dist, cfg.peer_timeout)
    try:
        start = prepare(cfg, world, hw, dataset)
        trainer = Trainer(cfg, world, hw, dataset, start, held_out, membership)
        trainer.train()
    except Exception as e:
        if not (world.distributed and is_lost_peer(e)):
            raise
        raise _lost(cfg, world, trainer, e) from None
    finally:
        if membership is not None:
            membership.stop()
        (trainer.world if trainer is not None else world).close()  # the world it is in now
    return 0


def _lost(cfg: Config, world: rendezvous.World, trainer: Trainer | None, error: Exception) -> PeerLost:
    """A collective failed because a peer vanished: the structured event, then the one-line exit."""
    snapshots = SnapshotDir(Experiment(cfg, world.rank).snapshots)  # read only: may not exist yet
    step = trainer.step if trainer is not None else 0
    held = snapshots.steps()
    emit("peer_lost", rank=world.rank, step=step, snapshot_step=held[-1] if held else None,
         error=str(error)[-300:], exit_code=PeerLost.exit_code)  # fmt: skip
    return peer_lost(
        error,
        rank=world.rank,
        records=world.records,
        step=step,
        snapshot_steps=held,
        snapshot_dir=str(snapshots.directory),
        collective_timeout_s=cfg.collective_timeout,
        rendezvous_timeout_s=cfg.rendezvous_timeout,
    )
