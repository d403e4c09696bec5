"""--micro-batch 0 chooses the chunk from free memory (hetero_train/memory_fit.py, microbatch.py). The free
memory is faked here (free_bytes) to make a small share not fit: this machine has far more than simple_cnn
needs. What a sample costs is measured for real."""

from __future__ import annotations

import copy
import time

import pytest
import torch
from torch import nn

from hetero_train import memory_fit
from hetero_train.learner import Learner
from hetero_train.models import build_model

from .runs import relative_difference

SHARE = 32


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(SHARE, 3, 32, 32, generator=g), torch.randint(10, (SHARE,), generator=g)


def _step(learner: Learner, x, y) -> dict[str, torch.Tensor]:
    learner.step(x, y, SHARE, time.perf_counter())
    return {k: v.detach().clone() for k, v in learner.model.state_dict().items()}


def test_a_share_that_fits_goes_whole_on_this_machine():
    learner = Learner(build_model("simple_cnn", 10), torch.device("cpu"), False, 0.1, 10)
    x, y = _batch()
    _step(learner, x, y)
    assert learner.fitting_chunk.size >= SHARE  # real free memory: room for far more than 32 samples


def test_a_share_that_does_not_fit_the_faked_free_memory_goes_in_chunks_and_takes_the_same_step(
    monkeypatch, capsys
):
    torch.manual_seed(0)
    model = build_model("simple_cnn", 10)
    x, y = _batch()
    whole = _step(Learner(copy.deepcopy(model), torch.device("cpu"), False, 0.1, 10), x, y)
    per_sample = memory_fit.bytes_per_sample(model, x, lambda: torch.autocast("cpu", enabled=False))
    room_for_10 = int(per_sample * 10.5 / memory_fit.HEADROOM)
    monkeypatch.setattr(memory_fit, "free_bytes", lambda device: room_for_10)
    chunked = Learner(copy.deepcopy(model), torch.device("cpu"), False, 0.1, 10)
    weights = _step(chunked, x, y)
    assert chunked.fitting_chunk.size == 10
    assert relative_difference(weights, whole) <= 1e-5  # chunks of 10, 10, 10, 2: the same step
    err = capsys.readouterr().err
    assert "a share of 32 samples does not fit in the free memory" in err
    assert "it goes in chunks of 10 (--micro-batch 0 chose it; --micro-batch N sets it)" in err


def test_measuring_a_sample_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5))
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    x, _ = _batch()
    per_sample = memory_fit.bytes_per_sample(model, x, lambda: torch.autocast("cpu", enabled=False))
    # at least the input and the conv's and BatchNorm's outputs of a sample are saved for backward
    assert per_sample >= 4 * (3 * 32 * 32 + 2 * 4 * 30 * 30)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats kept
    assert torch.equal(rng, torch.get_rng_state())
    assert memory_fit.fitting_chunk(None, per_sample) is None  # unknown memory: whole shares
    assert memory_fit.fitting_chunk(1000, per_sample) == 1  # never less than one sample


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("limited", [True, False])
def test_a_cpu_ranks_free_memory_is_its_containers_limit_when_that_is_smaller(
    tmp_path, monkeypatch, version, limited
):
    """The container's memory cgroup is faked (a folder of its files); the machine's MemAvailable is real."""
    v1 = version == "v1"
    group = tmp_path / ("memory/rank" if v1 else "rank")
    group.mkdir(parents=True)
    unlimited = str(2**63 - 4096) if v1 else "max"
    (group / ("memory.limit_in_bytes" if v1 else "memory.max")).write_text(
        f"{64 << 20 if limited else unlimited}\n"
    )
    (group / ("memory.usage_in_bytes" if v1 else "memory.current")).write_text(f"{16 << 20}\n")
    monkeypatch.setattr(memory_fit, "CGROUP", tmp_path)
    monkeypatch.setattr(memory_fit, "_own_groups", lambda: {"memory" if v1 else "": "/rank"})
    free = memory_fit.free_bytes(torch.device("cpu"))
    assert free == (48 << 20 if limited else memory_fit._mem_available())
