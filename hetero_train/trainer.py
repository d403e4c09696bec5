"""The training loop: one Trainer, in the spirit of pytorch/examples' multinode DDP script.

Each step takes samples [offset, offset+B) of the epoch's global order; this rank trains on its share,
divides its summed loss by B, and DDP all-reduces gradients with SUM - so the step is exactly the one a
single process would take on all B samples, whatever the split.
"""

from __future__ import annotations

import math
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from . import data, hardware, plan, rendezvous
from .balance import Balancer, memory_cap
from .config import Config
from .errors import BadInput, PeerLost
from .fsutil import atomic_write, atomic_write_bytes
from .metrics import MetricsFile, Progress, emit
from .models import build_model
from .peer_lost import is_lost_peer, peer_lost
from .profiling import StepProfiler
from .sampler import GlobalSampler, steps_per_epoch
from .snapshot import SnapshotDir, agree_and_load


class StepTimer:
    """Splits a step into local compute and communication/wait, using the DDP comm hook's calls.

    The hook of the last gradient bucket fires when this rank's backward compute is done; what follows
    until backward returns is waiting for the slower ranks and the all-reduce itself.
    """

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.last_hook: float | None = None
        self.hook_event = None

    def start(self) -> None:
        self.last_hook = None
        self.hook_event = None
        if self.cuda:
            self.start_event = torch.cuda.Event(enable_timing=True)
            self.start_event.record()

    def hook_called(self) -> None:
        self.last_hook = time.perf_counter()
        if self.cuda:  # CUDA runs asynchronously: time the GPU work with events, not the host clock
            self.hook_event = torch.cuda.Event(enable_timing=True)
            self.hook_event.record()

    def gpu_compute_s(self) -> float | None:
        if not self.cuda or self.hook_event is None:
            return None
        self.hook_event.synchronize()
        return self.start_event.elapsed_time(self.hook_event) / 1000


def sum_allreduce_hook(timer, bucket):  # no annotations: DDP checks them, and they are strings here
    # SUM, not DDP's default average: each rank's loss is already divided by the global batch B.
    timer.hook_called()
    fut = dist.all_reduce(bucket.buffer(), op=dist.ReduceOp.SUM, async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


class Experiment:
    """The experiment's directories; created only once every input has been checked."""

    def __init__(self, cfg: Config, rank: int):
        self.root = cfg.experiment_dir
        self.logs = self.root / "logs"
        self.configs = self.root / "configs"
        self.checkpoints = self.root / "checkpoints"
        self.profiles = self.root / "profiles"
        self.rank = rank
        self.snapshots = self.checkpoints / f"rank_{rank}"  # this rank's resumable snapshots

    def create(self) -> None:
        for d in (self.logs, self.configs, self.checkpoints):
            d.mkdir(parents=True, exist_ok=True)


def _memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20  # resident pages
    except OSError:
        return 0.0


class Trainer:
    def __init__(self, cfg: Config, world: rendezvous.World, hw: hardware.Hardware, model, dataset,
                 batch: int, shares: list[int], exp: Experiment, plan_source: str = "initial"):  # fmt: skip
        self.cfg, self.world, self.hw, self.exp = cfg, world, hw, exp
        self.rank = world.rank
        self.plan_source = plan_source
        self.device = torch.device(hw.device)
        self.dataset = dataset
        self.global_batch = batch
        self.model = model.to(self.device)
        self.timer = StepTimer(self.device)
        self.net = self.model
        if world.distributed:
            self.net = DDP(self.model, device_ids=[self.device.index] if hw.has_gpu else None)
            self.net.register_comm_hook(self.timer, sum_allreduce_hook)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.learning_rate, momentum=0.9)
        per_epoch = steps_per_epoch(len(dataset), batch, world.size)
        # The schedule follows --epochs only, so stopping early with --max-steps and resuming later
        # continues the very same schedule.
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=cfg.epochs * per_epoch
        )
        self.total_steps = min(cfg.max_steps or math.inf, cfg.epochs * per_epoch)
        self.sampler = GlobalSampler(len(dataset), cfg.seed, world.size)
        policy = cfg.load_balance_policy if cfg.enable_load_balancing else "static"
        self.balancer = Balancer(policy, list(shares))
        self.step, self.epoch, self.offset = 0, 0, 0
        self.window = [0, 0.0]  # samples and compute seconds since the last re-plan
        self.run_totals = [0, 0.0]
        self.bytes_per_sample: float | None = None
        self.snapshots = SnapshotDir(exp.snapshots, keep=cfg.keep_snapshots)
        self.metrics = MetricsFile(exp.logs / f"rank_{self.rank}_metrics.json", self.rank)
        self.progress = Progress(int(self.total_steps), self.rank)
        trace = exp.profiles / f"rank_{self.rank}_trace.json"
        self.profiler = StepProfiler(
            cfg.enable_profiling, trace, self.device, first_step=int(self.total_steps > 1)
        )

    @property
    def shares(self) -> list[int]:
        return self.balancer.shares

    # --- the loop ---------------------------------------------------------------------------------
    def train(self) -> None:
        resumed = self._resume()
        self.metrics.start_run(self._run_info(resumed))
        emit("plan", rank=self.rank, step=self.step, shares=self.shares, global_batch=self.global_batch,
             reason="resume" if resumed is not None else self.plan_source)  # fmt: skip
        while self.step < self.total_steps:
            record = self._train_step()
            self.step += 1
            if self.sampler.epoch_done(self.offset, self.global_batch):
                self._end_epoch()
            if self.step % self.cfg.log_every == 0 or self.step == self.total_steps:
                self._log(record)
            if self.cfg.enable_load_balancing and self.step % self.cfg.rebalance_every == 0:
                self._rebalance()
            if self.cfg.save_every and self.step % self.cfg.save_every == 0:
                self._snapshot()
        self._finish()

    def _train_step(self) -> dict:
        start = time.perf_counter()
        part = self.sampler.step(self.epoch, self.offset, self.global_batch, self.shares, self.rank)
        x, y = data.load_batch(self.dataset, part.indices)
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        self.profiler.before_step(self.step)
        self.timer.start()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            base = torch.cuda.memory_allocated(self.device)
        loss = F.cross_entropy(self.net(x), y, reduction="sum") / part.batch
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        backward_done = time.perf_counter()
        self.optimizer.step()
        self.scheduler.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.bytes_per_sample = (torch.cuda.max_memory_allocated(self.device) - base) / len(part.indices)
        end = time.perf_counter()
        self.profiler.after_step(self.step)
        hook = self.timer.last_hook or backward_done
        compute = (hook - start) + (end - backward_done)
        compute = self.timer.gpu_compute_s() or compute
        self.offset += part.batch
        self.window[0] += len(part.indices)
        self.window[1] += compute
        self.run_totals[0] += len(part.indices)
        self.run_totals[1] += compute
        step_s = end - start
        return {
            "loss_local": loss.detach(),
            "share": len(part.indices),
            "shares": part.shares,
            "compute_s": round(compute, 6),
            "comm_s": round(max(0.0, step_s - compute), 6),
            "step_s": round(step_s, 6),
            "samples_per_s": round(len(part.indices) / step_s, 2),
            "global_samples_per_s": round(part.batch / step_s, 2),
        }

    # --- what happens between steps ---------------------------------------------------------------
    def _log(self, record: dict) -> None:
        loss = record.pop("loss_local")
        if self.world.distributed:  # every rank holds part of the loss; the step's loss is their sum
            dist.all_reduce(loss, op=dist.ReduceOp.SUM)
        fields = {
            "rank": self.rank,
            "step": self.step,
            "epoch": self.epoch,
            "loss": round(float(loss), 6),
            **record,
            "memory_mb": round(_memory_mb(self.device), 1),
            "device": self.hw.device,
            "lr": self.scheduler.get_last_lr()[0],
        }
        emit("step", **fields)
        self.metrics.add_step({"time": time.time(), **fields})
        self.progress.update(self.step, fields["loss"], fields["global_samples_per_s"])

    def _rebalance(self) -> None:
        cap = memory_cap(hardware.gpu_available_bytes(self.hw.device), self.bytes_per_sample)
        gathered = self.world.all_gather((self.window[0], self.window[1], cap))
        self.window = [0, 0.0]
        samples, compute, caps = (list(col) for col in zip(*gathered, strict=True))
        old = list(self.shares)
        new = self.balancer.observe(samples, compute, caps)
        if new is not None:
            speeds = [round(s / t, 1) if t else None for s, t in zip(samples, compute, strict=True)]
            policy = self.balancer.policy
            if self.rank == 0:
                print(f"hetero-train: step {self.step}: shares {old} -> {new} ({policy};"
                      f" measured samples/s {speeds})", file=sys.stderr, flush=True)  # fmt: skip
            emit("plan", rank=self.rank, step=self.step, shares=new, previous=old, reason=policy,
                 global_batch=self.global_batch, measured_samples_per_s=speeds)  # fmt: skip

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.offset = 0
        if self.rank == 0:
            path = self.exp.checkpoints / f"model_epoch_{self.epoch}.pth"
            atomic_write(path, lambda f: torch.save(self.model.state_dict(), f))

    def _snapshot(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "offset": self.offset,  # the sampler position, in samples of the epoch's order
            "global_batch": self.global_batch,
            "world_size": self.world.size,
            "balance": self.balancer.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "model_name": self.cfg.model,
            "dataset": self.cfg.dataset,
        }
        path = self.snapshots.save(self.step, state)
        emit("snapshot", rank=self.rank, step=self.step, epoch=self.epoch, path=str(path))
        self.metrics.flush()

    def _resume(self) -> int | None:
        found = agree_and_load(self.snapshots, self.world.all_gather)
        if found is None:
            return None
        step, state = found
        if (state.get("model_name"), state.get("dataset")) != (self.cfg.model, self.cfg.dataset):
            raise BadInput(
                f"experiment {self.exp.root} holds snapshots of {state.get('model_name')} on"
                f" {state.get('dataset')}; choose another --experiment-name"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.offset = state["step"], state["epoch"], state["offset"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        # The saved plan only fits the same world and batch; otherwise the new first plan stands.
        if state["world_size"] == self.world.size and state["global_batch"] == self.global_batch:
            self.balancer.load_state_dict(state["balance"])
        emit(
            "resume", rank=self.rank, step=self.step, epoch=self.epoch, offset=self.offset, shares=self.shares
        )
        return step

    def _finish(self) -> None:
        self.profiler.close()
        if not self.snapshots.steps() or self.snapshots.steps()[-1] != self.step:
            self._snapshot()
        speeds = self.world.all_gather(
            self.run_totals[0] / self.run_totals[1] if self.run_totals[1] else None
        )
        if self.rank == 0:
            path = self.exp.checkpoints / "final.pt"
            atomic_write(path, lambda f: torch.save({"model": self.model.state_dict()}, f))
            write_profiles(self.exp, self.world, self.global_batch, speeds)
        self.metrics.update_run(finished=_now(), final_step=self.step, final_shares=self.shares)
        self.metrics.flush()
        emit("done", rank=self.rank, step=self.step, epoch=self.epoch, shares=self.shares,
             experiment=str(self.exp.root))  # fmt: skip
        self.world.barrier()  # nobody tears the process group down while another still needs it

    def _run_info(self, resumed: int | None) -> dict:
        return {
            "started": _now(),
            "resumed_from_step": resumed,
            "backend": self.world.backend,
            "world_size": self.world.size,
            "global_batch": self.global_batch,
            "shares": self.shares,
            "policy": self.balancer.policy,
            "hardware": self.hw.record(),
            "config": {
                k: str(v) if isinstance(v, Path) else v for k, v in vars(self.cfg).items() if k != "dist"
            },
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_profiles(exp: Experiment, world: rendezvous.World, batch: int, speeds: list | None = None) -> None:
    """configs/gpu_profiles.json: what every rank has and how fast it trained (reusable by --gpu-profiles)."""
    import json

    ranks = []
    for r, rec in enumerate(world.records):
        entry = {"rank": r, **rec}
        if speeds is not None and speeds[r] is not None:
            entry["measured_samples_per_s"] = round(speeds[r], 2)
        ranks.append(entry)
    doc = {"world_size": world.size, "backend": world.backend, "global_batch": batch, "ranks": ranks}
    atomic_write_bytes(exp.configs / "gpu_profiles.json", json.dumps(doc, indent=1).encode())


def announce(world: rendezvous.World, hw: hardware.Hardware) -> None:
    """The one-line hardware summary for people, and the same as a structured event."""
    print(
        f"hetero-train: rank {world.rank}/{world.size} {hw.summary()}; backend {world.backend}",
        file=sys.stderr,
    )
    emit("hardware", rank=world.rank, world_size=world.size, backend=world.backend, summary=hw.summary(),
         **hw.record())  # fmt: skip


def run(cfg: Config) -> int:
    hw = hardware.detect(cfg.dist.local_rank)
    hardware.apply(hw)
    dataset = data.open_dataset(cfg.dataset, cfg.data_dir, cfg.dataset_size, cfg.seed)
    world = rendezvous.join(
        cfg.dist, hw.record(), cfg.backend, cfg.rendezvous_timeout, cfg.collective_timeout
    )
    trainer = None
    try:
        batch, per_rank = plan.global_batch(cfg, world, len(dataset))
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
        model = build_model(cfg.model, dataset.num_classes)
        measured = None
        if plan.needs_measurement(cfg):
            own = plan.measure_speed(model, dataset[0][0].shape, dataset.num_classes, torch.device(hw.device))
            measured = world.all_gather(own)
        shares, source = plan.initial_shares(cfg, world, batch, per_rank, measured)
        world.barrier()  # every rank has passed every check: only now are files written
        announce(world, hw)
        exp = Experiment(cfg, world.rank)
        exp.create()
        if world.rank == 0:
            write_profiles(exp, world, batch, measured)
        trainer = Trainer(cfg, world, hw, model, dataset, batch, shares, exp, source)
        trainer.train()
    except Exception as e:
        if not (world.distributed and is_lost_peer(e)):
            raise
        raise _lost(cfg, world, trainer, e) from None
    finally:
        world.close()
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
