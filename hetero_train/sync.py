"""How the ranks combine their gradients each step (`--sync`, inventory `hetero_sync`): the DDP comm hooks.

- exact: an fp32 all-reduce with SUM. Each rank's loss is already divided by the global batch, so the sum
  is exactly the single-process gradient whatever the split.
- bf16: the same SUM in bfloat16 - half the bytes on the link, at bf16's precision (8 bits of mantissa).
- powersgd: PowerSGD (Vogels et al., 2019) with error feedback, after `--powersgd-warmup` exact steps:
  each gradient matrix is sent as two thin factors of rank `--powersgd-rank`, far fewer bytes; what the
  approximation leaves out is carried into the next step.
- local: no hook and no DDP at all; the ranks average their weights every few steps (local_sgd.py).

PyTorch's built-in hooks average over ranks; ours sum unequal shares. So the compressed hooks multiply each
rank's gradient by the world size first: their average is then our sum. Every hook tells the step timer
when this rank's backward handed over its last bucket (timing.py), which is how compute and communication
are told apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as powersgd

from . import powersgd_state
from .timing import StepTimer


@dataclass
class SyncState:
    """What a hook needs: the step timer, the world size, and PowerSGD's own state (its error feedback)."""

    timer: StepTimer
    world_size: int
    powersgd: powersgd.PowerSGDState | None = None
    mode: str = "exact"
    # PowerSGD's state per bucket follows the order of the bucket's parameters, which DDP changes after its
    # first step: the order each bucket's state is in, as positions in the model (powersgd_state.py)
    layouts: dict[int, list[int]] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)  # id(parameter) -> its position
    shapes: list = field(default_factory=list)  # per position


def exact_hook(state, bucket):  # no annotations: DDP checks them, and they are strings here
    state.timer.hook_called()
    fut = dist.all_reduce(bucket.buffer(), op=dist.ReduceOp.SUM, async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def bf16_hook(state, bucket):
    state.timer.hook_called()
    buffer = bucket.buffer()
    half = buffer.to(torch.bfloat16)
    fut = dist.all_reduce(half, op=dist.ReduceOp.SUM, async_op=True).get_future()

    def back_to_fp32(f):
        buffer.copy_(f.value()[0])
        return buffer

    return fut.then(back_to_fp32)


def powersgd_hook(state, bucket):
    state.timer.hook_called()
    powersgd_state.follow_layout(state, bucket)
    bucket.buffer().mul_(state.world_size)  # the built-in hook averages: make its average our sum
    fut = powersgd.powerSGD_hook(state.powersgd, bucket)
    # The built-in hook sends Q from a callback of P's all-reduce, while backward goes on to the next bucket:
    # with unequal shares the ranks' backwards run at different speeds, and one rank may issue the next
    # bucket's all-reduce before this bucket's Q, the other after it - gloo then pairs collectives of
    # different sizes and aborts. Finishing each bucket here keeps every rank's collectives in one order;
    # PowerSGD's messages are small, so little overlap is lost.
    fut.wait()
    return fut


HOOKS = {"exact": exact_hook, "bf16": bf16_hook, "powersgd": powersgd_hook}


def state_for(mode: str, timer: StepTimer, world_size: int, rank: int = 1, warmup: int = 10) -> SyncState:
    state = SyncState(timer, world_size, mode=mode)
    if mode == "powersgd":
        # start_powerSGD_iter counts DDP iterations; PowerSGD needs at least 2 (its error feedback and warm
        # start begin after one plain step). min_compression_rate 2: tensors it cannot halve go as they are.
        state.powersgd = powersgd.PowerSGDState(
            process_group=None,
            matrix_approximation_rank=rank,
            start_powerSGD_iter=max(2, warmup),
            use_error_feedback=True,
            warm_start=True,
            random_seed=0,
        )
    return state


def summary(state: SyncState | None) -> dict:
    """The mode, and for PowerSGD the share of the gradient's numbers it sent once compressing."""
    if state is None:
        return {"mode": "none (one rank)"}
    fields = {"mode": state.mode}
    ps = state.powersgd
    if ps is not None and ps.total_numel_before_compression:
        fields["sent_fraction"] = round(
            ps.total_numel_after_compression / ps.total_numel_before_compression, 5
        )
    return fields


def register(net, mode: str, timer: StepTimer, world_size: int, rank: int, warmup: int) -> SyncState:
    """Put the mode's hook on a DDP model; returns its state (kept for a later re-wrap's warm-up count)."""
    state = state_for(mode, timer, world_size, rank, warmup)
    params = list(net.module.parameters())
    state.positions, state.shapes = {id(p): i for i, p in enumerate(params)}, [p.shape for p in params]
    net.register_comm_hook(state, HOOKS[mode])
    return state
