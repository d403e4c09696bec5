"""The arithmetic each rank computes in (`--precision`, inventory `hetero_precision`), chosen per rank.

auto: bf16 autocast on a GPU of compute capability 8.0 or newer (Ampere on), which runs bf16 at full speed
and needs no loss scaling; fp16 autocast with a GradScaler on older GPUs; on a CPU, fp32 unless bf16 was
measured faster there (`probe_cpu`: bf16 pays only where the CPU has bf16 instructions, AMX or AVX512-BF16;
elsewhere it runs several times slower).

Parameters, and so their gradients, stay fp32 whatever the precision: autocast only lowers the forward's
arithmetic. The all-reduce therefore always sums fp32 gradients and mixed ranks agree. A GradScaler
multiplies the loss by a scale before backward; the sum of the ranks' gradients is only right if every
rank used the same scale, so when any rank runs fp16 every rank gets a scaler. They all start at the same
scale and all see the same summed gradients, so they skip the same steps and their scales move together.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from .errors import BadInput

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
# auto takes bf16 on a CPU only when it ran this much faster than fp32: a clear win, never a coin toss
# between two runs of the same job.
CPU_BF16_MARGIN = 1.25
PROBE_SIZE, PROBE_REPEATS = 256, 5  # a 256x256 matmul five times: about 0.1 s at startup


@dataclass(frozen=True)
class Precision:
    name: str  # what this rank computes in: fp32, bf16 or fp16
    reason: str  # why, for the start line

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return AUTOCAST.get(self.name)


def _capability(record: Mapping) -> tuple[int, int] | None:
    """The compute capability of the rank's GPU ("8.0" -> (8, 0)), None on a CPU rank."""
    device = str(record.get("device", "cpu"))
    if not device.startswith("cuda"):
        return None
    gpu = record["gpus"][int(device.split(":")[1])]
    major, _, minor = str(gpu["capability"]).partition(".")
    return int(major), int(minor or 0)


def choose(requested: str, record: Mapping) -> Precision:
    """This rank's precision from what was asked and its hardware record (Hardware.record())."""
    cap = _capability(record)
    where = "a CPU rank" if cap is None else f"a GPU of compute capability {cap[0]}.{cap[1]}"
    if requested == "auto":
        if cap is None:
            speedup = record.get("cpu_bf16_speedup")
            if speedup is not None and speedup >= CPU_BF16_MARGIN:
                return Precision(
                    "bf16", f"auto: bf16 autocast on a CPU rank, measured {speedup:.2f}x fp32's speed"
                )
            measured = f"; bf16 measured {speedup:.2f}x fp32's speed" if speedup is not None else ""
            return Precision("fp32", f"auto: fp32 on a CPU rank{measured}")
        if cap >= (8, 0):
            return Precision("bf16", f"auto: bf16 autocast on {where}")
        return Precision("fp16", f"auto: fp16 autocast with loss scaling on {where} (bf16 needs 8.0)")
    if requested == "fp16" and cap is None:
        raise BadInput("--precision fp16 needs a GPU, and this is a CPU rank: use bf16, fp32 or auto")
    if requested == "bf16" and cap is not None and cap < (8, 0):
        raise BadInput(
            f"--precision bf16 needs compute capability 8.0 or newer, and this is {where}: use fp16 or auto"
        )
    return Precision(requested, f"{requested}, as asked")


def cpu_bf16_speedup() -> float:
    """How many times faster a matmul ran under bf16 autocast than in fp32 on this CPU, with the threads
    this rank has (call after hardware.apply)."""
    a, b = torch.randn(PROBE_SIZE, PROBE_SIZE), torch.randn(PROBE_SIZE, PROBE_SIZE)
    took = {}
    for bf16 in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            a @ b  # the first call sets the kernels up: not timed
            start = time.perf_counter()
            for _ in range(PROBE_REPEATS):
                a @ b
            took[bf16] = time.perf_counter() - start
    return round(took[False] / max(took[True], 1e-9), 3)


def probe_cpu(hw, requested: str):
    """The rank's Hardware with its measured bf16 speed-up, when auto must choose on a CPU rank (the record
    every rank shares then carries it, so every rank computes the same choices: for_world)."""
    if requested != "auto" or hw.has_gpu:
        return hw
    return replace(hw, cpu_bf16_speedup=cpu_bf16_speedup())


def for_world(requested: str, records: Sequence[Mapping]) -> list[Precision]:
    """Every rank's precision, computed alike on every rank from the shared hardware records: a rank that
    cannot run what was asked stops every rank with the same line, instead of leaving the others waiting."""
    chosen = []
    for rank, record in enumerate(records):
        try:
            chosen.append(choose(requested, record))
        except BadInput as e:
            raise BadInput(f"rank {rank} ({record.get('hostname', '?')}): {e}") from None
    return chosen


def scales_loss(chosen: Sequence[Precision]) -> bool:
    """Does any rank run fp16? Then every rank scales its loss alike (see above)."""
    return any(p.name == "fp16" for p in chosen)


def prepare_gpu(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """On a GPU: channels_last (convolutions' fastest layout with autocast) and cuDNN's benchmark mode
    (it times each convolution's algorithms once per input shape and keeps the fastest)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        model = model.to(memory_format=torch.channels_last)
    return model


def to_layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Image batches in channels_last on a GPU, to match prepare_gpu's model."""
    if device.type == "cuda" and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
