"""PowerSGD's own state in snapshots: its error feedback, the factors it warm-starts from, its step count
and generator - so a resumed powersgd run goes on as if never stopped.

The built-in hook keeps that state per DDP bucket, as flat tensors in the order of the bucket's
parameters, and a new DDP wrapper (a resumed run) orders them differently in its first step than after
it. So every bucket's state is kept with the parameter order it is in (SyncState.layouts), and when a
bucket comes with another order its state is rearranged to match; a bucket that now holds other
parameters starts its state afresh (zero error, new random factors), as PowerSGD does for a new bucket.
"""

from __future__ import annotations

import torch
from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as powersgd

# The changing part of PowerSGDState; its settings are the run's own flags, its process group the world's.
SAVED = ("error_dict", "p_memory_dict", "q_memory_dict", "iter", "rng",
         "total_numel_before_compression", "total_numel_after_compression")  # fmt: skip
PER_BUCKET = ("error_dict", "p_memory_dict", "q_memory_dict")


def pieces(ps: powersgd.PowerSGDState, layout: list[int], shapes: list) -> dict[str, list]:
    """(parameter position, length) of each piece of a bucket's error, P and Q memory, in their order: the
    error follows the bucket's parameters; P and Q only the matrices PowerSGD compresses, grouped by shape
    (as the built-in hook lays them out)."""
    error, groups = [], {}
    for position in layout:
        shape = shapes[position]
        n = shape[0] if len(shape) else 1
        m = shape.numel() // n
        r = min(n, m, ps.matrix_approximation_rank)
        error.append((position, shape.numel()))
        if powersgd._should_compress(n, m, r, ps.min_compression_rate)[0]:
            groups.setdefault((n, m), []).append((position, n * r, m * r))
    compressed = [piece for group in groups.values() for piece in group]
    return {
        "error_dict": error,
        "p_memory_dict": [(pos, p) for pos, p, _ in compressed],
        "q_memory_dict": [(pos, q) for pos, _, q in compressed],
    }


def follow_layout(state, bucket) -> None:
    """Before the hook: rearrange this bucket's state if the bucket's parameter order changed."""
    index, layout = bucket.index(), [state.positions[id(p)] for p in bucket.parameters()]
    old = state.layouts.get(index)
    state.layouts[index] = layout
    if old is None or old == layout:
        return
    ps = state.powersgd
    for name in PER_BUCKET:
        memory = getattr(ps, name)
        if index not in memory:
            continue
        if sorted(old) != sorted(layout):  # other parameters: PowerSGD starts this bucket afresh
            memory.pop(index)
            continue
        before = pieces(ps, old, state.shapes)[name]
        if not before:  # nothing of this kind in the bucket (no matrix PowerSGD compresses)
            continue
        positions, lengths = zip(*before, strict=True)
        chunks = dict(zip(positions, memory[index].split(list(lengths)), strict=True))
        memory[index] = torch.cat([chunks[pos] for pos, _ in pieces(ps, layout, state.shapes)[name]])


def state_dict(state) -> dict | None:
    ps = state.powersgd if state is not None else None
    if ps is None:
        return None
    return {"rank": ps.matrix_approximation_rank, "layouts": dict(state.layouts),
            **{name: getattr(ps, name) for name in SAVED}}  # fmt: skip


def load_state_dict(state, saved: dict | None, device: torch.device) -> None:
    """Into the hook's live state (DDP holds that very object); only a snapshot of the same PowerSGD rank:
    factors of another rank do not fit, and the hook then starts afresh."""
    ps = state.powersgd if state is not None else None
    if ps is None or not saved or saved["rank"] != ps.matrix_approximation_rank:
        return
    for name in SAVED:
        value = saved[name]
        if name in PER_BUCKET:  # flat tensors per bucket, saved from wherever they were
            value = {k: v.to(device) for k, v in value.items()}
        setattr(ps, name, value)
    state.layouts = dict(saved["layouts"])
