"""Helpers to run the real trainer: `python -m hetero_train` processes, one per rank, on this machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

# Small and quick on 2 shared cores: one torch thread per rank, a tiny synthetic dataset. fp32: --precision
# auto takes bf16 on a CPU that runs it measured faster (one with AVX512-BF16), and the parity the tests
# check is that of one fixed arithmetic.
TINY = [
    "--precision",
    "fp32",
    "--global-batch-size",
    "32",
    "--dataset-size",
    "2000",
    "--log-every",
    "1",
    "--rendezvous-timeout",
    "60",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RankResult:
    rank: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind]


def start_rank(env: dict[str, str], args: list[str], cwd: Path) -> subprocess.Popen:
    """One `python -m hetero_train` with its output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "hetero_train", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rank_envs(world: int) -> list[dict[str, str]]:
    """The environment of every rank of a local job (one torch thread each, a free master port)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    env["WORLD_SIZE"] = str(world)
    return [dict(env, RANK=str(rank), LOCAL_RANK=str(rank)) for rank in range(world)]


def run_processes(
    envs: list[dict[str, str]], args: list[str], cwd: Path, timeout: float = 120
) -> list[RankResult]:
    """One `python -m hetero_train` per environment, all at once; every one must exit 0."""
    procs = [start_rank(env, args, cwd) for env in envs]
    results = []
    for rank, p in enumerate(procs):
        out, err = p.communicate(timeout=timeout)
        results.append(RankResult(rank, p.returncode, out, err))
    for r in results:
        assert r.returncode == 0, f"rank {r.rank} failed:\n{r.stderr[-3000:]}"
    return results


def run_ranks(world: int, args: list[str], cwd: Path, timeout: float = 120) -> list[RankResult]:
    return run_processes(rank_envs(world), args, cwd, timeout)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu")["model"]


def relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    num = sum(float(((a[k].double() - b[k].double()) ** 2).sum()) for k in a)
    den = sum(float((b[k].double() ** 2).sum()) for k in b)
    return (num / den) ** 0.5
