"""The run's start, between joining the world and the first step: the global batch and first plan, the
seeded model, and - once every rank has passed every check - the experiment's directories."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from . import plan
from .config import Config
from .experiment import Experiment, write_profiles
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


def prepare(cfg: Config, world: World, hw: Hardware, dataset) -> Start:
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
    return Start(exp, model, batch, shares, source)


def announce(world: World, hw: Hardware) -> None:
    """The one-line hardware summary for people, and the same as a structured event."""
    print(
        f"hetero-train: rank {world.rank}/{world.size} {hw.summary()}; backend {world.backend}",
        file=sys.stderr,
    )
    emit("hardware", rank=world.rank, world_size=world.size, backend=world.backend, summary=hw.summary(),
         **hw.record())  # fmt: skip
