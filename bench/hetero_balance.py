"""Benchmark: exact load balancing between a fast and a slow rank of really different speed.

Two ranks run on this machine, each in its own cgroup CPU quota (1.5 and 0.5 CPUs; cgroup v1
cpu.cfs_quota_us, or cpu.max on cgroup v2) - a real speed difference, no sleeps anywhere. Measured side
by side in one run:

  * each rank's standalone samples/s (one process), at the share balancing should give it;
  * plain DDP: equal shares, no balancing;
  * each balancing policy: static, dynamic, adaptive.

eta = balanced samples/s / (sum of the standalone samples/s): 1.0 means the slow rank adds all it has.
Prints a table and writes bench/results/hetero_balance.json. Needs root (it creates cgroups).

    .venv/bin/python bench/hetero_balance.py [--global-batch-size 512] [--steps 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from bench.samples import free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "hetero_balance.json"
QUOTAS = {"fast": 1.5, "slow": 0.5}
PERIOD_US = 10_000  # 10 ms: fine-grained throttling, a steadier "slower CPU" than the 100 ms default
# On a shared machine other programs compete for the same cores. A high CPU weight lets each rank get
# (up to) its quota while the benchmark runs, so the quota - not the neighbours - sets its speed.
PRIORITY_V1 = 10 * 1024  # cpu.shares, default 1024
PRIORITY_V2 = 1000  # cpu.weight, default 100


class CpuGroup:
    """A cgroup with a CPU quota that a child process joins before it execs the trainer."""

    def __init__(self, name: str, cpus: float):
        self.cpus = cpus
        v1 = Path("/sys/fs/cgroup/cpu")
        if (v1 / "cpu.cfs_quota_us").exists():
            self.path = v1 / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(int(cpus * PERIOD_US)))
            (self.path / "cpu.shares").write_text(str(PRIORITY_V1))
        elif (Path("/sys/fs/cgroup") / "cgroup.controllers").exists():
            self.path = Path("/sys/fs/cgroup") / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.max").write_text(f"{int(cpus * PERIOD_US)} {PERIOD_US}")
            (self.path / "cpu.weight").write_text(str(PRIORITY_V2))
        else:
            sys.exit("no cgroup CPU controller found at /sys/fs/cgroup; run as root on Linux")

    def join(self) -> None:  # runs in the child between fork and exec
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError as e:
            print(f"note: could not remove {self.path}: {e}", file=sys.stderr)


def run(name: str, groups: list[CpuGroup], args: list[str], out: Path) -> list[dict]:
    """Run one configuration (one rank per group); returns rank 0's step records."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    env["WORLD_SIZE"] = str(len(groups))
    cmd = [sys.executable, "-m", "hetero_train", "--output-dir", str(out), "--experiment-name", name, *args]
    procs = [
        subprocess.Popen(
            cmd,
            env=dict(env, RANK=str(r), LOCAL_RANK="0"),
            preexec_fn=g.join,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r, g in enumerate(groups)
    ]
    results = [p.communicate() for p in procs]
    for p, (_o, err) in zip(procs, results, strict=True):
        if p.returncode != 0:
            sys.exit(f"{name} failed:\n{err[-2000:]}")
    plans = [json.loads(line) for line in results[0][0].splitlines() if '"event": "plan"' in line]
    data = json.loads((out / name / "logs" / "rank_0_metrics.json").read_text())
    return data["steps"], plans


def throughput(steps: list[dict], skip: float) -> float:
    """Global samples/s over the steps after the first `skip` fraction (warm-up, balancing settling).

    Wall-clock time between step records, so everything between steps (logging, re-planning) counts.
    """
    first = max(1, int(len(steps) * skip))
    body = steps[first:]
    samples = sum(sum(s["shares"]) for s in body)
    return samples / (body[-1]["time"] - steps[first - 1]["time"])


def cpu_busy_fraction(seconds: float = 1.0) -> float:
    """How busy all CPUs of the machine are (everyone's work, not just ours)."""

    def snap():
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]

    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)


CONFIGS = {
    "plain_ddp": ["--rank-shares", "1,1"],
    "static": ["--enable-load-balancing", "--load-balance-policy", "static"],
    "dynamic": ["--enable-load-balancing", "--load-balance-policy", "dynamic"],
    "adaptive": ["--enable-load-balancing", "--load-balance-policy", "adaptive"],
}


def standalone_args(a, batch: int) -> list[str]:
    return ["--global-batch-size", str(batch), "--max-steps", str(a.standalone_steps)]


def ideal_shares(global_batch: int, speeds: list[float]) -> list[int]:
    """The global batch split in proportion to the ranks' speeds, summing to the global batch exactly."""
    shares = [max(1, round(global_batch * v / sum(speeds))) for v in speeds]
    shares[0] += global_batch - sum(shares)
    return shares


def one_round(a, fast: CpuGroup, slow: CpuGroup, out: Path) -> dict:
    """Every configuration once, back to back, so they see the same background load."""
    common = ["--log-every", "1", "--save-every", "0"]
    rows = {}
    # Alone, a rank first trains on the per-rank batch plain DDP gives it (B/2): that estimates its speed.
    # The per-sample cost changes with the batch (caches, per-step overheads), so the baseline for eta is a
    # second standalone run at the share balancing should give each rank (B split by those speeds): the
    # most each rank can do alone on the work it gets when balanced. Measured at B/2, eta could exceed 1.
    half = a.global_batch_size // 2
    estimate = {}
    for name, group in (("fast", fast), ("slow", slow)):
        records, _ = run(f"estimate_{name}", [group], [*common, *standalone_args(a, half)], out)
        estimate[name] = throughput(records, 0.2)
    shares = ideal_shares(a.global_batch_size, [estimate["fast"], estimate["slow"]])
    for (name, group), share in zip((("fast", fast), ("slow", slow)), shares, strict=True):
        records, _ = run(f"standalone_{name}", [group], [*common, *standalone_args(a, share)], out)
        rows[f"standalone_{name}"] = {
            "samples_per_s": throughput(records, 0.2),
            "batch": share,
            "samples_per_s_at_half_batch": estimate[name],
        }
    for name, extra in CONFIGS.items():
        args = [*common, "--global-batch-size", str(a.global_batch_size), "--max-steps", str(a.steps)]
        args += ["--rebalance-every", str(a.rebalance_every), *extra]
        records, plans = run(name, [fast, slow], args, out)
        rows[name] = {
            "samples_per_s": throughput(records, 0.4),
            "final_shares": records[-1]["shares"],
            "share_changes": len(plans) - 1,
        }
    total = rows["standalone_fast"]["samples_per_s"] + rows["standalone_slow"]["samples_per_s"]
    plain = rows["plain_ddp"]["samples_per_s"]
    for name in CONFIGS:
        rows[name]["eta"] = rows[name]["samples_per_s"] / total
        rows[name]["speedup_vs_plain_ddp"] = rows[name]["samples_per_s"] / plain
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--global-batch-size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=40, help="steps per DDP/policy run")
    ap.add_argument("--standalone-steps", type=int, default=12)
    ap.add_argument("--rebalance-every", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    a = ap.parse_args()

    fast, slow = CpuGroup("hetero_bench_fast", QUOTAS["fast"]), CpuGroup("hetero_bench_slow", QUOTAS["slow"])
    busy_before = cpu_busy_fraction()
    load_before = os.getloadavg()
    started = time.time()
    rounds = []
    try:
        with tempfile.TemporaryDirectory(prefix="hetero-bench-") as tmp:
            for r in range(a.rounds):
                print(f"round {r + 1}/{a.rounds} ...", file=sys.stderr, flush=True)
                rounds.append(one_round(a, fast, slow, Path(tmp) / f"round{r}"))
    finally:
        fast.remove()
        slow.remove()
    busy_after = cpu_busy_fraction()

    names = list(rounds[0])
    summary = {}
    for name in names:
        per_round = [rd[name] for rd in rounds]
        entry = {"samples_per_s": median(x["samples_per_s"] for x in per_round)}
        if "eta" in per_round[0]:
            entry["eta"] = median(x["eta"] for x in per_round)
            entry["speedup_vs_plain_ddp"] = median(x["speedup_vs_plain_ddp"] for x in per_round)
            entry["final_shares"] = [x["final_shares"] for x in per_round]
        if "batch" in per_round[0]:  # a standalone run: the batch it ran at, per round
            entry["final_shares"] = [x["batch"] for x in per_round]
        summary[name] = entry
    total = summary["standalone_fast"]["samples_per_s"] + summary["standalone_slow"]["samples_per_s"]

    quotas = f"fast rank: {QUOTAS['fast']} CPUs, slow rank: {QUOTAS['slow']} CPUs (cgroup quotas)"
    print(f"\n{quotas}, one torch thread per rank")
    print(f"global batch {a.global_batch_size}, simple_cnn on synthetic 32x32 images, gloo over loopback")
    print(f"medians of {a.rounds} interleaved rounds; eta and speed-up are per round, then the median\n")
    print(
        f"{'configuration':<16} {'samples/s':>10} {'eta':>6} {'vs DDP':>7}"
        "  final shares per round (standalone: its batch)"
    )
    for name, r in summary.items():
        eta = f"{r['eta']:.2f}" if "eta" in r else ""
        sp = f"{r['speedup_vs_plain_ddp']:.2f}x" if "speedup_vs_plain_ddp" in r else ""
        shares = " ".join(map(str, r.get("final_shares", [])))
        print(f"{name:<16} {r['samples_per_s']:>10.1f} {eta:>6} {sp:>7}  {shares}")
    print(f"{'sum standalone':<16} {total:>10.1f}")
    print(
        f"\nmachine: {os.cpu_count()} CPUs, busy {busy_before:.0%} before / {busy_after:.0%} after"
        " (all programs),"
        f" load average {load_before[0]:.2f} before / {os.getloadavg()[0]:.2f} after"
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "hetero_balance",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "setup": {
            "model": "simple_cnn",
            "dataset": "synthetic_image",
            "global_batch_size": a.global_batch_size,
            "steps": a.steps,
            "standalone_steps": a.standalone_steps,
            "rebalance_every": a.rebalance_every,
            "rounds": a.rounds,
            "cpu_quotas": QUOTAS,
            "torch_threads_per_rank": 1,
            "standalone_batch": "each rank at its ideal balanced share (speeds first estimated at B/2)",
            "measured_over": "steps after the first 40% (DDP/policies) or 20% (standalone), wall clock",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "busy_before": round(busy_before, 3),
            "busy_after": round(busy_after, 3),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "sum_standalone_samples_per_s": total,
        "results": summary,
        "rounds": rounds,
        "goal": {"eta": 0.95, "speedup_vs_plain_ddp": 1.7},
    }
    RESULTS.write_text(json.dumps(doc, indent=1))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
