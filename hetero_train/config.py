"""The trainer's settings for one run, frozen once the command line has been checked (see settings.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import distenv


@dataclass(frozen=True)
class Config:
    model: str
    dataset: str
    loss: str
    sync: str
    precision: str
    powersgd_rank: int
    powersgd_warmup: int
    local_steps: int  # --sync local: inner steps per round (local_sgd.py)
    micro_batch: int  # 0: what fits the free memory, the whole share when it does (microbatch.py)
    data_dir: Path
    dataset_size: int | None
    batch_size: int | None
    global_batch_size: int | None
    epochs: int
    max_steps: int | None
    learning_rate: float
    optimizer: str  # sgd, adamw or your own module:callable (optim.py)
    weight_decay: float
    warmup_steps: int
    eval_fraction: float  # held out, never trained on (evaluate.py); 0: none
    eval_every: int
    data_workers: int | None  # None: from the rank's CPU quota (loader.py)
    seed: int
    enable_load_balancing: bool
    load_balance_policy: str
    rebalance_every: int
    rank_shares: tuple[float, ...] | None
    leave_out_percent: int
    gpu_profiles: Path | None
    backend: str
    rendezvous_timeout: float
    collective_timeout: float
    peer_timeout: float  # 0: off (membership.py)
    min_ranks: int
    output_dir: Path
    experiment_name: str
    save_every: int
    keep_snapshots: int
    log_every: int
    enable_profiling: bool
    dist: distenv.DistEnv

    @property
    def experiment_dir(self) -> Path:
        return self.output_dir / self.experiment_name
