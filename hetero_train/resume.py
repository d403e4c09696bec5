"""What a snapshot of the run holds, and how a run picks up from the newest one every rank holds.

A snapshot is the learner (weights, optimizer, schedule), the sampler's position, the balancer's plan and
the random generators; the files themselves are snapshot.py's.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import NamedTuple

import torch

from .balance import Balancer
from .config import Config
from .errors import BadInput
from .learner import Learner
from .rendezvous import World
from .snapshot import SnapshotDir, agree_and_load


class Position(NamedTuple):
    step: int
    epoch: int
    offset: int  # the sampler position, in samples of the epoch's order


class Snapshots:
    """This rank's snapshots of one run (the same model, dataset, world and global batch)."""

    def __init__(self, directory: Path, cfg: Config, world: World, global_batch: int):
        self.files = SnapshotDir(directory, keep=cfg.keep_snapshots)
        self.cfg, self.world, self.global_batch = cfg, world, global_batch

    def newest(self) -> int | None:
        held = self.files.steps()
        return held[-1] if held else None

    def save(self, learner: Learner, balancer: Balancer, at: Position) -> Path:
        state = {
            **learner.state_dict(),
            "step": at.step,
            "epoch": at.epoch,
            "offset": at.offset,
            "global_batch": self.global_batch,
            "world_size": self.world.size,
            "balance": balancer.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "model_name": self.cfg.model,
            "dataset": self.cfg.dataset,
        }
        return self.files.save(at.step, state)

    def resume(self, learner: Learner, balancer: Balancer) -> tuple[int, Position] | None:
        """Load the newest snapshot all ranks hold into the learner, the generators and (if its plan still
        fits) the balancer; None if there is none."""
        found = agree_and_load(self.files, self.world.all_gather)
        if found is None:
            return None
        step, state = found
        if (state.get("model_name"), state.get("dataset")) != (self.cfg.model, self.cfg.dataset):
            raise BadInput(
                f"experiment {self.cfg.experiment_dir} holds snapshots of {state.get('model_name')} on"
                f" {state.get('dataset')}; choose another --experiment-name"
            )
        learner.load_state_dict(state)
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        # The saved plan only fits the same world and batch; otherwise the new first plan stands.
        if state["world_size"] == self.world.size and state["global_batch"] == self.global_batch:
            balancer.load_state_dict(state["balance"])
        return step, Position(state["step"], state["epoch"], state["offset"])
