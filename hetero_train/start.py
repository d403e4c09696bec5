"""The run's start, between joining the world and the first step: the global batch and first plan, the
seeded model, and - once every rank has passed every check - the experiment's directories."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from . import costmodel, optim, plan, precision, sync_choice, usercode
from .config import Config
from .data import load_batch
from .experiment import Experiment, write_profiles
from .fsutil import atomic_write_bytes
from .hardware import Hardware
from .metrics import emit
from .models import build_model
from .rendezvous import World


@dataclass(frozen=True)
class Start:
    exp: Experiment
    model: torch.nn.Module
    global_batch: int
    shares: list[int]
    plan_source: str  # why these shares: "rank-shares", "gpu-profiles", "measured" or "per-rank batch"
    all_reduce: dict | None = None  # the timed all-reduce of a gradient's size (time_all_reduce)
    links: list[float] | None = None  # per rank, Mbit/s of its link to rank 0 (time_links)
    loss: Callable | None = None  # your own per-sample loss (usercode.py); None: cross-entropy
    precision: precision.Precision | None = None  # this rank's arithmetic (precision.py)
    scale_loss: bool = False  # some rank of the world runs fp16: every rank scales its loss alike
    sync: str = "exact"  # the sync mode: --sync, or what auto chose (choose_sync)
    sync_fractions: dict | None = None  # per mode, the bytes a step sends relative to exact (sync_choice.py)


def prepare(cfg: Config, world: World, hw: Hardware, dataset) -> Start:
    batch, per_rank = plan.global_batch(cfg, world, len(dataset))
    chosen = precision.for_world(cfg.precision, world.records)  # one a rank cannot run: one line, exit 2
    mine, scale_loss = chosen[world.rank], precision.scales_loss(chosen)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(cfg.model, dataset.num_classes)
    loss = usercode.loss_function(cfg.loss)
    if loss is not None:  # your own: one call on two samples, before anything is written
        usercode.check_loss(cfg.loss, loss, model, *load_batch(dataset, torch.arange(min(2, len(dataset)))))
    optim.check(optim.Optim.of(cfg), model, cfg.learning_rate)  # your own: built once, before any file
    measured = None
    auto = cfg.sync == "auto" and world.distributed
    if plan.needs_measurement(cfg) or auto:
        own = plan.measure_speed(
            model, dataset[0][0].shape, dataset.num_classes or 2, torch.device(hw.device)
        )
        measured = world.all_gather(own)
    first = measured if plan.needs_measurement(cfg) else None
    shares, source = plan.initial_shares(cfg, world, batch, per_rank, first)
    plan.check_micro_batch(cfg, shares)
    world.barrier()  # every rank has passed every check: only now are files written
    announce(world, hw)
    print(f"hetero-train: rank {world.rank} computes in {mine.name} ({mine.reason})", file=sys.stderr)
    emit("precision", rank=world.rank, precision=mine.name, reason=mine.reason, loss_scaling=scale_loss)
    timed = links = None
    if (cfg.enable_load_balancing or auto) and world.distributed:
        timed = time_all_reduce(model, world, torch.device(hw.device))
        links = time_links(world, torch.device(hw.device))
    exp = Experiment(cfg, world.rank)
    exp.create()
    if world.rank == 0:
        write_profiles(exp, world, batch, measured)
    fractions = sync_choice.sent_fractions(
        [tuple(p.shape) for p in model.parameters()], cfg.powersgd_rank, cfg.local_steps
    )
    mode = cfg.sync if cfg.sync != "auto" else "exact"  # a world of one rank sends nothing: exact
    if auto:
        mode = choose_sync(exp, world, batch, measured, timed, links, fractions)
    return Start(exp, model, batch, shares, source, timed, links, loss, mine, scale_loss, mode, fractions)


def choose_sync(exp, world: World, batch: int, speeds, timed: dict, links, fractions: dict) -> str:
    """--sync auto: each mode's predicted samples/s from the measured speeds (proportional models) and the
    timed all-reduce; the fastest (sync_choice.py). A resumed run keeps the mode its snapshots were taken
    in (their PowerSGD or local state belongs to it): every rank reads the choice it wrote, and only when
    all hold the same one is it kept."""
    path = exp.configs / f"sync_auto_rank_{world.rank}.json"
    before = world.all_gather(json.loads(path.read_text())["chosen"] if path.exists() else None)
    if before[0] is not None and len(set(before)) == 1:
        print(f"hetero-train: --sync auto keeps {before[0]}, the mode of the run it resumes", file=sys.stderr)
        emit("sync_choice", rank=world.rank, chosen=before[0], reason="resume")
        return before[0]
    models = [costmodel.Affine(0.0, 1.0 / s) for s in speeds]
    found = sync_choice.forecasts(
        models, batch, timed["seconds"], "exact", fractions, links=links, names=world.names
    )
    chosen = sync_choice.choose(found)
    predicted = {m: round(f.best.samples_per_s, 2) for m, f in found.items()}
    best_ranks = {m: list(f.best.ranks) for m, f in found.items()}
    atomic_write_bytes(path, json.dumps({"chosen": chosen, "predicted_samples_per_s": predicted}).encode())
    emit("sync_choice", rank=world.rank, chosen=chosen, reason="auto", predicted_samples_per_s=predicted,
         best_subset=best_ranks, sent_fraction={m: round(f, 5) for m, f in fractions.items()})  # fmt: skip
    if world.rank == 0:
        print(f"hetero-train: {sync_choice.summary_line(found, chosen)}", file=sys.stderr, flush=True)
    return chosen


def announce(world: World, hw: Hardware) -> None:
    """The one-line hardware summary for people, and the same as a structured event."""
    print(
        f"hetero-train: rank {world.rank}/{world.size} {hw.summary()}; backend {world.backend}",
        file=sys.stderr,
    )
    emit("hardware", rank=world.rank, world_size=world.size, backend=world.backend, summary=hw.summary(),
         **hw.record())  # fmt: skip


def time_all_reduce(model: torch.nn.Module, world: World, device: torch.device) -> dict:
    """What one all-reduce of this model's gradients costs on this world, before any step: a buffer of
    the parameters' size (fp32), summed once after a small warm-up one (connections, buffers). Real steps
    then measure the communication the backward pass does not hide; this says what the link gives."""
    numel = sum(p.numel() for p in model.parameters())
    dist.all_reduce(torch.zeros(1, device=device))
    buffer = torch.zeros(numel, device=device)
    start = time.perf_counter()
    dist.all_reduce(buffer)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = max(world.all_gather(time.perf_counter() - start))  # the world waits for the slowest
    megabytes = numel * 4 / 1e6
    timed = {"megabytes": round(megabytes, 2), "seconds": round(seconds, 4),
             "mbit_per_s": round(megabytes * 8 * 2 * (world.size - 1) / world.size / seconds, 1)}  # fmt: skip
    emit("all_reduce", rank=world.rank, **timed)
    if world.rank == 0:
        print(f"hetero-train: one all-reduce of the gradients ({timed['megabytes']} MB) takes"
              f" {timed['seconds']:.3f} s on this world ({timed['mbit_per_s']} Mbit/s per rank, ring)",
              file=sys.stderr, flush=True)  # fmt: skip
    return timed


def time_links(world: World, device: torch.device, megabytes: float = 1.0) -> list[float]:
    """Per rank, the Mbit/s of its link to rank 0: each rank in turn sends `megabytes` to rank 0, timed
    there. The world's all-reduce is only as fast as its slowest link; knowing whose link that is lets the
    planner predict a world without that rank (costmodel.predict's `links`). Rank 0's own entry is the
    fastest measured: its link is in every one of the others' measurements."""
    buffer = torch.zeros(int(megabytes * 1e6 / 4), device=device)
    rates: list[float] = []
    for sender in range(1, world.size):
        world.barrier()
        if world.rank == sender:
            dist.send(buffer, dst=0)
        elif world.rank == 0:
            start = time.perf_counter()
            dist.recv(buffer, src=sender)
            rates.append(round(megabytes * 8 / (time.perf_counter() - start), 1))
    links = world.all_gather(rates)[0]
    links = [max(links), *links]
    emit("links", rank=world.rank, mbit_per_s=links)
    return links
