"""Host figures (CPU %, memory, GPU) as the metrics screen gets them: parsed from /proc and nvidia-smi output,
and sampled by the real remote loop run locally against a faked nvidia-smi."""

from __future__ import annotations

import os
import stat
import time

from hetero_tui.services.hoststats import (
    GpuStat,
    HostStats,
    HostStatsFeed,
    cpu_jiffies,
    cpu_percent,
    host_stats,
    parse_block,
    parse_nvidia_smi,
)
from hetero_tui.services.logs import HostConnection

# What `nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total
# --format=csv,noheader,nounits` prints on a two-GPU box whose second card reports no utilisation.
FAKE_NVIDIA_SMI = """\
0, NVIDIA GeForce RTX 3060, 97, 5120, 12288
1, Tesla K80, [N/A], 10, [Not Supported]
"""


def test_gpu_rows_of_a_faked_nvidia_smi_output_with_unsupported_fields():
    assert parse_nvidia_smi(FAKE_NVIDIA_SMI) == [
        GpuStat(0, "NVIDIA GeForce RTX 3060", 97.0, 5120.0, 12288.0),
        GpuStat(1, "Tesla K80", None, 10.0, None),
    ]


def test_a_faked_nvidia_smi_failure_message_gives_no_gpu():
    failed = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
    assert parse_nvidia_smi(failed) == []


def test_a_gpu_name_with_a_comma_keeps_its_numbers():
    gpu = GpuStat(2, "Some GPU, rev 2", 5.0, 100.0, 200.0)
    assert parse_nvidia_smi("2, Some GPU, rev 2, 5, 100, 200") == [gpu]


def test_cpu_percent_is_the_busy_share_between_two_proc_stat_lines():
    before = cpu_jiffies("cpu  100 0 100 700 100 0 0 0 0 0")  # busy 200 of 1000 (iowait is idle)
    after = cpu_jiffies("cpu  400 0 200 1000 100 0 0 0 0 0")  # +400 busy of +700
    assert before == (200, 1000)
    assert round(cpu_percent(before, after)) == 57
    assert cpu_percent(None, after) is None  # the first block of a connection has no CPU % yet


def test_a_sample_block_gives_memory_used_and_the_gpus():
    lines = [
        "cpu  400 0 200 1000 100 0 0 0 0 0",
        "MemTotal:        8000000 kB",
        "MemAvailable:    6000000 kB",
        "@@hetero-gpu",
        *FAKE_NVIDIA_SMI.splitlines(),
    ]
    block = parse_block(lines)
    previous = parse_block(["cpu  100 0 100 700 100 0 0 0 0 0"])
    stats = host_stats("lap2", block, previous)
    assert round(stats.memory_used_mb) == round(2000000 / 1024)
    assert round(stats.memory_total_mb) == round(8000000 / 1024)
    assert round(stats.cpu_percent) == 57
    assert [g.index for g in stats.gpus] == [0, 1]
    assert stats.gpu(1) == [stats.gpus[1]]  # a rank's own GPU
    assert stats.gpu(None) == list(stats.gpus)  # unknown: every GPU of the host


def _fake_nvidia_smi(directory) -> None:
    path = directory / "nvidia-smi"
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{FAKE_NVIDIA_SMI}EOF\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _wait(predicate, cap_s: float = 30) -> None:
    """A cap, not a timing assertion: the loop samples every 0.1 s."""
    deadline = time.monotonic() + cap_s
    while not predicate():
        assert time.monotonic() < deadline, "no host figures arrived"
        time.sleep(0.05)


def test_sampling_loop_with_a_faked_nvidia_smi_on_the_path_reports_cpu_memory_and_gpus(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    changed = []
    feed = HostStatsFeed(on_stats=changed.append, interval_s=0.1)
    feed.follow([HostConnection("here", "localhost", local=True)])
    try:
        _wait(lambda: "here" in feed.latest and feed.latest["here"].cpu_percent is not None)
    finally:
        feed.stop()
    stats = feed.latest["here"]
    assert 0 <= stats.cpu_percent <= 100
    assert 0 < stats.memory_used_mb < stats.memory_total_mb
    assert stats.gpus == tuple(parse_nvidia_smi(FAKE_NVIDIA_SMI))
    assert set(changed) == {"here"}


def test_a_host_ssh_cannot_reach_says_why(tmp_path):
    # Port 1 on this machine: nothing listens, ssh fails at once with its one line.
    conn = HostConnection("gone", "127.0.0.1", port=1, ssh_common_args=f"-o UserKnownHostsFile={tmp_path}/k")
    feed = HostStatsFeed()
    feed.follow([conn])
    try:
        _wait(lambda: "gone" in feed.latest)
    finally:
        feed.stop()
    stats = feed.latest["gone"]
    assert stats == HostStats("gone", None, None, None, error=stats.error)
    assert "refused" in stats.error.lower() or "port 1" in stats.error, stats.error
