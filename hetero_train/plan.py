"""The first plan: the global batch B and each rank's share of it, before any step has been timed.

Precedence: --rank-shares (fixed), then with load balancing --gpu-profiles or a quick measured speed
(static), otherwise the per-rank batches the hardware suggests (64 on a GPU, 32 on a CPU).
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import Config
from .errors import BadInput
from .rendezvous import World
from .shares import largest_remainder


def global_batch(cfg: Config, world: World, dataset_len: int) -> tuple[int, list[int]]:
    """B and each rank's own per-rank batch (flag, or the hardware's default)."""
    per_rank = [cfg.batch_size or r["default_batch"] for r in world.records]
    b = cfg.global_batch_size or sum(per_rank)
    if b < world.size:
        raise BadInput(
            f"global batch {b} is smaller than the world size {world.size}; raise --global-batch-size"
        )
    if b > dataset_len:
        raise BadInput(
            f"global batch {b} is larger than the dataset ({dataset_len} samples);"
            " lower --global-batch-size/--batch-size or use more data"
        )
    return b, per_rank


def profile_speeds(path: Path, world_size: int) -> list[float]:
    """Per-rank speeds from a gpu_profiles.json (ours, or hand-written {"ranks": [{"samples_per_s": x}]})."""
    try:
        ranks = json.loads(path.read_text())["ranks"]
        speeds = [
            float(r.get("measured_samples_per_s") or r.get("samples_per_s") or r["score"]) for r in ranks
        ]
    except (OSError, ValueError, KeyError, TypeError):
        raise BadInput(
            f'--gpu-profiles {path}: expected JSON {{"ranks": [{{"samples_per_s": N}}, ...]}}'
            " (as in an experiment's configs/gpu_profiles.json)"
        ) from None
    if len(speeds) != world_size or any(s <= 0 for s in speeds):
        raise BadInput(
            f"--gpu-profiles {path} lists {len(speeds)} ranks with speeds > 0; the world size is {world_size}"
        )
    return speeds


def measure_speed(
    model: torch.nn.Module,
    sample_shape: torch.Size,
    num_classes: int,
    device: torch.device,
    budget_s: float = 1.0,
) -> float:
    """A quick hardware score: samples/s of forward+backward on a private copy with made-up inputs.

    Runs on a copy with its own generator, so the real model and the global RNG are untouched. The
    median of several timed passes (about `budget_s` in all) resists a neighbour's burst of work.
    """
    m = copy.deepcopy(model).to(device)
    g = torch.Generator().manual_seed(0)
    batch = 32
    x = torch.randn(batch, *sample_shape, generator=g).to(device)
    y = torch.randint(num_classes, (batch,), generator=g).to(device)

    def once() -> float:
        start = time.perf_counter()
        m.zero_grad(set_to_none=True)
        F.cross_entropy(m(x), y).backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    once()  # warm-up: allocation, kernel choice
    times: list[float] = []
    while len(times) < 3 or (sum(times) < budget_s and len(times) < 50):
        times.append(once())
    return batch / statistics.median(times)


def initial_shares(
    cfg: Config, world: World, b: int, per_rank: list[int], measured: list[float] | None
) -> tuple[list[int], str]:
    if cfg.rank_shares is not None:
        return largest_remainder(cfg.rank_shares, b), "rank-shares"
    if cfg.enable_load_balancing and cfg.gpu_profiles is not None:
        return largest_remainder(profile_speeds(cfg.gpu_profiles, world.size), b), "gpu-profiles"
    if measured is not None:
        return largest_remainder(measured, b), "measured"
    return largest_remainder(per_rank, b), "per-rank batch"


def check_micro_batch(cfg: Config, shares: list[int]) -> None:
    """A fixed plan (no balancing) knows every share before the first step: a micro-batch larger than one
    is a mistake. With balancing the shares move, and a share smaller than it is one chunk (microbatch.py)."""
    if not cfg.micro_batch or cfg.enable_load_balancing:
        return
    rank = min(range(len(shares)), key=shares.__getitem__)
    if cfg.micro_batch > shares[rank]:
        raise BadInput(
            f"--micro-batch {cfg.micro_batch} is larger than rank {rank}'s share of {shares[rank]} samples;"
            f" use at most {shares[rank]}, or 0 for whole shares"
        )


def needs_measurement(cfg: Config) -> bool:
    return (
        cfg.enable_load_balancing
        and cfg.load_balance_policy == "static"
        and cfg.rank_shares is None
        and cfg.gpu_profiles is None
    )
