"""Hardware detection: cgroup CPU quotas (real files in tmp_path), threads, and GPU paths with a faked GPU."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from hetero_train import hardware
from hetero_train.backend import choose_backend
from hetero_train.distenv import resolve
from hetero_train.errors import BadInput


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cgroup_v1_quota_of_the_process_own_group(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "4:memory:/\n2:cpu,cpuacct:/bench_fast\n0::/\n")
    write(tmp_path / "cg/cpu,cpuacct/bench_fast/cpu.cfs_quota_us", "150000\n")
    write(tmp_path / "cg/cpu,cpuacct/bench_fast/cpu.cfs_period_us", "100000\n")
    assert hardware.cgroup_cpu_quota(tmp_path / "cg", proc) == 1.5


def test_cgroup_v1_inside_a_container_reads_the_mount_root(tmp_path):
    # Docker on cgroup v1 shows the host path in /proc/self/cgroup but mounts the container's own group.
    proc = write(tmp_path / "proc_cgroup", "3:cpu:/docker/0123abcd\n")
    write(tmp_path / "cg/cpu/cpu.cfs_quota_us", "50000")
    write(tmp_path / "cg/cpu/cpu.cfs_period_us", "100000")
    assert hardware.cgroup_cpu_quota(tmp_path / "cg", proc) == 0.5


def test_cgroup_v1_unlimited(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "3:cpu:/\n")
    write(tmp_path / "cg/cpu/cpu.cfs_quota_us", "-1")
    write(tmp_path / "cg/cpu/cpu.cfs_period_us", "100000")
    assert hardware.cgroup_cpu_quota(tmp_path / "cg", proc) is None


def test_cgroup_v2_quota_and_max(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "0::/user.slice/job\n")
    cpu_max = write(tmp_path / "cg/user.slice/job/cpu.max", "250000 100000\n")
    assert hardware.cgroup_cpu_quota(tmp_path / "cg", proc) == 2.5
    cpu_max.write_text("max 100000\n")
    assert hardware.cgroup_cpu_quota(tmp_path / "cg", proc) is None


def test_no_cgroup_files_means_no_quota(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "0::/\n")
    assert hardware.cgroup_cpu_quota(tmp_path / "cg", proc) is None


def test_threads_follow_the_quota_unless_omp_num_threads_is_set():
    assert hardware.threads_for(1.5, None) == 2
    assert hardware.threads_for(0.5, None) == 1
    assert hardware.threads_for(4.0, None) == 4
    assert hardware.threads_for(4.0, "1") == 1


def test_detect_on_this_cpu_machine(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    hw = hardware.detect(local_rank=0)
    assert hw.device == "cpu" and not hw.has_gpu and hw.default_batch == 32 and hw.torch_threads == 1
    assert hw.cpu_affinity >= 1 and "no GPU" in hw.summary() and "\n" not in hw.summary()


def fake_gpus(monkeypatch, count: int):
    """Fakes torch.cuda for `count` NVIDIA GPUs; nothing else is faked."""
    props = SimpleNamespace(name="NVIDIA GeForce RTX 3060", total_memory=12 * 2**30, major=8, minor=6)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)


def test_device_by_local_rank_with_faked_gpus(monkeypatch):
    fake_gpus(monkeypatch, 2)
    hw = hardware.detect(local_rank=1)
    assert hw.device == "cuda:1" and hw.has_gpu and hw.default_batch == 64
    assert [g.capability for g in hw.gpus] == ["8.6", "8.6"] and hw.gpus[0].memory_mb == 12288
    assert "cuda:1 NVIDIA GeForce RTX 3060 12288 MB cc 8.6" in hw.summary()


def test_a_container_with_one_faked_gpu_uses_it_whatever_its_local_rank(monkeypatch):
    fake_gpus(monkeypatch, 1)
    assert hardware.detect(local_rank=3).device == "cuda:0"


def test_backend_auto_with_faked_gpu_records():
    gpu, cpu = {"has_gpu": True}, {"has_gpu": False}
    assert choose_backend("auto", [gpu, gpu]) == "nccl"
    assert choose_backend("auto", [gpu, cpu]) == "gloo"
    assert choose_backend("auto", [gpu, gpu], nccl_available=False) == "gloo"
    assert choose_backend("gloo", [gpu, gpu]) == "gloo"
    with pytest.raises(BadInput, match=r"rank\(s\) 1 have none"):
        choose_backend("nccl", [gpu, cpu])


def test_rank_and_master_from_torchrun_environment():
    env = {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "10.77.0.11",
        "MASTER_PORT": "29400",
        "LOCAL_WORLD_SIZE": "2",
        "GROUP_RANK": "1",
        "TORCHELASTIC_RUN_ID": "x",
    }
    d = resolve(env=env)
    assert (d.rank, d.world_size, d.local_rank, d.master_addr, d.master_port) == (
        3,
        4,
        1,
        "10.77.0.11",
        29400,
    )
    assert resolve(rank=0, master_port=1234, env=env).rank == 0
    assert resolve(env={}).world_size == 1 and resolve(env={}).master_port == 29500


def test_default_batch_is_64_per_faked_gpu_rank_and_32_per_cpu_rank():
    from hetero_train import plan
    from hetero_train.cli import parse_config
    from hetero_train.rendezvous import World

    records = [{"has_gpu": True, "default_batch": 64}, {"has_gpu": False, "default_batch": 32}]
    world = World(rank=0, size=2, backend="gloo", records=records)
    cfg = parse_config([], env={"WORLD_SIZE": "2"})
    batch, per_rank = plan.global_batch(cfg, world, dataset_len=1000)
    assert (batch, per_rank) == (96, [64, 32])
    assert plan.initial_shares(cfg, world, batch, per_rank, None) == ([64, 32], "per-rank batch")
    cfg = parse_config(["--batch-size", "16"], env={"WORLD_SIZE": "2"})
    assert plan.global_batch(cfg, world, dataset_len=1000) == (32, [16, 16])
