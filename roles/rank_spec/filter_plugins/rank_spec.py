"""The rank container's spec, one dict per rank, rendered once for launch, compose, swarm and slurm.

`rank | hetero_rank_spec(shared, overrides)` takes one entry of hetero_host_ranks ({rank, local_rank, gpu}),
the settings every rank shares (hetero_rank_spec_shared in ../vars/main.yml) and a consumer's overrides of
them (swarm's image, MASTER_ADDR and interface; compose's container names; slurm's run-time rank and image),
and returns the container as plain data. Each consumer only maps it to its own format (docker_container
arguments, a compose service, a swarm service, docker run flags); none decides what a rank container is.
"""

from __future__ import annotations

from typing import Any


def rank_spec(rank: dict, shared: dict, overrides: dict | None = None) -> dict[str, Any]:
    """The spec of one rank's container: what runs, as whom, with which environment, mounts and limits."""
    # Ansible templates `shared` lazily, key by key: an overridden key is never read, so slurm's controller
    # needs no host's image variant.
    shared = _Overridden(shared, overrides or {})
    gpu = rank.get("gpu")
    ifname = str(shared["ifname"])
    env = {
        "RANK": str(rank["rank"]),
        "WORLD_SIZE": str(shared["world_size"]),
        "MASTER_ADDR": str(shared["master_addr"]),
        "MASTER_PORT": str(shared["master_port"]),
        "LOCAL_RANK": str(rank["local_rank"]),
        "GLOO_SOCKET_IFNAME": ifname,
    }
    if gpu is not None:  # NCCL only runs on GPU ranks; it takes the same cluster interface as gloo
        env["NCCL_SOCKET_IFNAME"] = ifname
    cpus = shared["cpus"]
    return {
        "name": f"{shared['name_prefix']}{rank['rank']}",
        "image": shared["image"],
        "command": [str(arg) for arg in shared["command"]],
        "user": shared["user"],
        "network_mode": "host",
        "env": env,
        "volumes": list(shared["volumes"]),
        # One GPU per rank, by device index (swarm lets the scheduler pick one of the host's instead).
        "gpu": None if gpu is None else str(gpu),
        "cpus": float(cpus) if cpus else None,
        # Restarted on failure this many times in the whole job; it resumes from the newest common snapshot.
        "restart_retries": int(shared["restart_retries"]),
        "labels": {"hetero.rank": str(rank["rank"]), "hetero.experiment": str(shared["experiment"])},
        "log_driver": "json-file",
        "log_options": {"max-size": shared["log_max_size"]},
    }


class _Overridden:
    """shared[key], unless overrides has the key."""

    def __init__(self, shared: dict, overrides: dict) -> None:
        self.shared, self.overrides = shared, overrides

    def __getitem__(self, key: str) -> Any:
        return self.overrides[key] if key in self.overrides else self.shared[key]


class FilterModule:
    def filters(self):
        return {"hetero_rank_spec": rank_spec}
