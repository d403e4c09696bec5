"""Who am I in the job: rank, world size, local rank and the master's address, from flags or environment.

The environment names are the ones torchrun and the rank containers set (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT), so the trainer runs unchanged under either. A flag wins over the environment.
Under SLURM's srun, the unset ones come from SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and the first node
of SLURM_NODELIST (see slurm.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from . import settings, slurm
from .errors import BadInput

DEFAULT_MASTER_ADDR = "127.0.0.1"
DEFAULT_MASTER_PORT = settings.BY_FLAG["--master-port"].default


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    # Under torchrun the agent already serves the store at MASTER_PORT; workers only connect to it.
    agent_store: bool = False
    restart: int = 0  # torchrun's restart count: keeps one attempt's store keys apart from the next's


def _int_from(name: str, flag_value: int | None, env: Mapping[str, str], default: int, flag: str) -> int:
    if flag_value is not None:
        return flag_value
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadInput(f"{name}={raw!r} is not a whole number; set {name} or pass {flag}") from None


def resolve(
    rank: int | None = None,
    world_size: int | None = None,
    local_rank: int | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> DistEnv:
    env = slurm.fill_from_slurm(os.environ if env is None else env)
    world = _int_from("WORLD_SIZE", world_size, env, 1, "--world-size")
    r = _int_from("RANK", rank, env, 0, "--rank")
    # Without LOCAL_RANK (a plain container), the rank is alone on its host: local rank 0.
    local = _int_from("LOCAL_RANK", local_rank, env, 0, "--local-rank")
    addr = master_addr or env.get("MASTER_ADDR") or DEFAULT_MASTER_ADDR
    # The port is a setting: its text is checked by the schema's rule (settings.py), as preflight checks it.
    port_text = master_port if master_port is not None else env.get("MASTER_PORT") or DEFAULT_MASTER_PORT
    port_problem = settings.BY_FLAG["--master-port"].problem(port_text)
    if port_problem:
        raise BadInput(f"MASTER_PORT: {port_problem}; fix MASTER_PORT or --master-port")
    port = int(port_text)
    if world < 1:
        raise BadInput(f"world size {world} must be at least 1; set WORLD_SIZE or --world-size")
    if not 0 <= r < world:
        raise BadInput(f"rank {r} is outside 0..{world - 1} (world size {world}); fix RANK or --rank")
    if local < 0:
        raise BadInput(f"local rank {local} must be >= 0; fix LOCAL_RANK or --local-rank")
    return DistEnv(
        rank=r,
        world_size=world,
        local_rank=local,
        master_addr=addr,
        master_port=port,
        agent_store=env.get("TORCHELASTIC_USE_AGENT_STORE") == "True",
        restart=_int_from("TORCHELASTIC_RESTART_COUNT", None, env, 0, "--rank"),
    )
