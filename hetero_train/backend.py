"""Which torch.distributed backend: NCCL only when every rank has a GPU, gloo otherwise.

gloo also carries CUDA tensors (through host memory), so a mixed GPU+CPU job works; NCCL cannot serve a
CPU rank at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import BadInput


def choose_backend(requested: str, records: Sequence[dict], nccl_available: bool = True) -> str:
    cpu_ranks = [i for i, r in enumerate(records) if not r["has_gpu"]]
    if requested == "auto":
        return "nccl" if not cpu_ranks and nccl_available else "gloo"
    if requested == "nccl":
        if cpu_ranks:
            ranks = ",".join(map(str, cpu_ranks))
            raise BadInput(
                f"--backend nccl needs a GPU on every rank, but rank(s) {ranks} have none;"
                " use --backend auto or gloo"
            )
        if not nccl_available:
            raise BadInput("--backend nccl: this torch build has no NCCL; use --backend auto or gloo")
    return requested
