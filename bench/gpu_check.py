"""GPU check: one script, at most 8 minutes, for a machine with one NVIDIA GPU. No Docker: the trainer runs as
processes from this checkout (PYTHONPATH), on the torch found there (2.11 or newer).

  (a) one GPU rank alone, at fp32 and at `auto` precision: samples/s for resnet18 and resnet50;
  (b) a GPU rank and a CPU rank over gloo with the product's defaults (inventory/group_vars/all.yml): the
      planner's decision (which ranks trained to the end, and why) and the cluster ÷ the GPU alone;
  (c) an NCCL world of one;
  (d) the memory cap: most of the GPU's memory is taken by a ballast tensor in this process, so that the
      GPU rank's share of a large global batch cannot fit; with balancing (adaptive, nobody left out) its
      share is capped by what fits and the CPU rank takes the rest: the run ends, with no out-of-memory.

Prints a table and writes bench/results/gpu_check.json (the docs' GPU table comes from it).

    python3 -m bench.gpu_check            # from the checkout's root, on the GPU machine
    python3 -m bench.gpu_check --dry-run  # here, with no GPU: the same steps on CPU ranks, tiny, to try it
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.samples import free_port, steady

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "gpu_check.json"
DEFAULTS = yaml.safe_load((REPO / "inventory" / "group_vars" / "all.yml").read_text())
MIN_TORCH = (2, 11)


@dataclass
class Run:
    """One trainer run: every rank's exit code, events (stdout's JSON lines) and stderr's tail."""

    name: str
    codes: list[int]
    events: list[list[dict]]
    tails: list[str]
    steps: list[dict] = field(default_factory=list)  # rank 0's step records (metrics file)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c == 0 for c in self.codes)

    def of(self, event: str, rank: int | None = None) -> list[dict]:
        ranks = range(len(self.events)) if rank is None else [rank]
        return [e for r in ranks for e in self.events[r] if e.get("event") == event]

    def speed(self, settle: float = 0.4) -> float | None:
        return round(steady(self.steps, settle), 1) if self.ok and len(self.steps) > 2 else None


class Trainer:
    """Starts worlds of ranks on this machine: "gpu" ranks see the GPU, "cpu" ranks see none."""

    def __init__(self, out: Path, cpu_threads: int, dry_run: bool):
        self.out, self.cpu_threads, self.dry_run = out, cpu_threads, dry_run

    def run(self, name: str, ranks: list[str], args: list[str], timeout_s: float = 300) -> Run:
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), LOCAL_RANK="0",
                   WORLD_SIZE=str(len(ranks)), PYTHONUNBUFFERED="1", PYTHONPATH=path)  # fmt: skip
        cmd = [sys.executable, "-m", "hetero_train", *args, "--log-every", "1", "--save-every", "0",
               "--output-dir", str(self.out), "--experiment-name", name]  # fmt: skip
        progress(f"{name}: {' + '.join(ranks)}")
        start, procs = time.time(), []
        for rank, kind in enumerate(ranks):
            mine = dict(env, RANK=str(rank))
            if kind == "cpu" or self.dry_run:
                mine.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=str(self.cpu_threads))
            procs.append(subprocess.Popen(cmd, env=mine, cwd=REPO, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))  # fmt: skip
        outputs = []
        for p in procs:
            try:
                outputs.append(p.communicate(timeout=max(1.0, timeout_s - (time.time() - start))))
            except subprocess.TimeoutExpired:
                p.kill()
                outputs.append(p.communicate())
        run = Run(
            name,
            [p.returncode for p in procs],
            [[json.loads(line) for line in o.splitlines() if line.startswith("{")] for o, _ in outputs],
            [e[-1500:] for _, e in outputs],
            seconds=round(time.time() - start, 1),
        )
        metrics = self.out / name / "logs" / "rank_0_metrics.json"
        if metrics.exists():
            run.steps = json.loads(metrics.read_text())["steps"]
        return run


def product_args() -> list[str]:
    from hetero_train import settings

    return settings.trainer_argv(DEFAULTS)


def alone(t: Trainer, a) -> dict:
    """(a) One GPU rank alone, per model and precision."""
    rows = {}
    for model in a.models:
        for precision in ("fp32", "auto"):
            got = t.run(f"alone-{model}-{precision}", ["gpu"], [
                "--model", model, "--precision", precision, "--global-batch-size", str(a.batch),
                "--max-steps", str(a.steps)])  # fmt: skip
            chosen = got.of("precision")
            rows[f"{model}/{precision}"] = {
                "ok": got.ok,
                "samples_per_s": got.speed(),
                "precision": chosen[0]["precision"] if chosen else None,
                "why": chosen[0]["reason"] if chosen else None,
                "error": None if got.ok else got.tails[0][-400:],
            }
    return rows


def mixed(t: Trainer, a, gpu_alone: float | None) -> dict:
    """(b) A GPU rank and a CPU rank over gloo, with the product's defaults."""
    got = t.run("mixed-gloo", ["gpu", "cpu"], [*product_args(), "--model", a.models[0], "--backend", "gloo",
                "--global-batch-size", str(a.batch), "--max-steps", str(a.steps)])  # fmt: skip
    worlds = got.of("world", 0)
    speed = got.speed(0.6)
    return {
        "ok": got.ok,
        "backend": (got.of("hardware", 0) or [{}])[0].get("backend"),
        "trained_to_the_end": worlds[-1]["ranks"] if worlds else [0, 1],
        "left_out": [e["reason"] for e in got.of("left_out")],
        "forecasts": [
            {k: e.get(k) for k in ("step", "shares", "best_subset_samples_per_s")}
            for e in got.of("forecast", 0)
        ],  # fmt: skip
        "samples_per_s": speed,
        "vs_gpu_alone": round(speed / gpu_alone, 3) if speed and gpu_alone else None,
        "error": None if got.ok else " | ".join(x[-400:] for x in got.tails),
    }


def nccl(t: Trainer, a) -> dict:
    """(c) An NCCL world of one."""
    got = t.run("nccl-one", ["gpu"], ["--model", a.models[0], "--backend", "nccl",
                "--global-batch-size", str(a.batch), "--max-steps", "10"])  # fmt: skip
    hw = (got.of("hardware", 0) or [{}])[0]
    return {"ok": got.ok, "backend": hw.get("backend"), "device": hw.get("device"),
            "error": None if got.ok else got.tails[0][-400:]}  # fmt: skip


def gpu_costs(model: str, batch: int = 64) -> tuple[float, int, int]:
    """What a trainer process takes of the GPU for `model` at fp32, measured here the way the trainer does:
    bytes per training sample, the model's own bytes (weights, gradients, momentum) and a CUDA context's."""
    import torch

    from hetero_train.models import build_model

    torch.cuda.init()
    free, total = torch.cuda.mem_get_info()
    context = total - free  # this process's context (nothing else on the GPU yet)
    net = build_model(model, 10).cuda()
    x, y = torch.randn(batch, 3, 32, 32, device="cuda"), torch.randint(10, (batch,), device="cuda")
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    torch.cuda.synchronize()
    per_sample = (torch.cuda.max_memory_allocated() - base) / batch
    del net, x, y
    torch.cuda.empty_cache()
    return per_sample, 3 * base, context


def memory_cap(t: Trainer, a) -> dict:
    """(d) A share too large for what is left of the GPU's memory is capped, not an out-of-memory crash.

    A ballast tensor in this process leaves the trainer room for its CUDA context, its model and about 3/4 of
    the global batch (all measured first, gpu_costs): the equal first split fits, the share the planner wants
    for so fast a GPU (nearly all of it) does not. fp32, as the room was measured."""
    ballast, room = None, None
    if not a.dry_run:
        import torch

        per_sample, model_bytes, context = gpu_costs(a.models[0])
        room = int(1.2 * context + model_bytes + 0.75 * a.cap_batch * per_sample)
        free, _total = torch.cuda.mem_get_info()
        ballast = torch.empty(max(0, free - room), dtype=torch.uint8, device="cuda")
    try:
        got = t.run("memory-cap", ["gpu", "cpu"], [
            "--model", a.models[0], "--precision", "fp32", "--enable-load-balancing",
            "--load-balance-policy", "adaptive", "--rebalance-every", "3", "--leave-out-percent", "0",
            "--global-batch-size", str(a.cap_batch), "--max-steps", str(a.cap_steps),
        ], timeout_s=240)  # fmt: skip
    finally:
        del ballast
        if not a.dry_run:
            torch.cuda.empty_cache()
    shares = [e["shares"][0] for e in got.of("plan", 0)]
    return {
        "ok": got.ok,
        "out_of_memory": "out of memory" in " ".join(got.tails).lower(),
        "global_batch": a.cap_batch,
        "room_gib": round(room / 2**30, 2) if room else None,  # what the ballast left the trainer
        "gpu_shares": shares,
        # Capped: the GPU never took the nearly-whole batch that would not fit.
        "capped": bool(shares) and max(shares) < 0.9 * a.cap_batch,
        "error": None if got.ok else " | ".join(x[-400:] for x in got.tails),
    }


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def table(doc: dict) -> str:
    lines = ["(a) one GPU rank alone", f"  {'model/precision':<18} {'chose':<6} {'samples/s':>10}"]
    for key, row in doc["alone"].items():
        speed = f"{row['samples_per_s']:.0f}" if row["samples_per_s"] else "FAILED"
        lines.append(f"  {key:<18} {row['precision'] or '-':<6} {speed:>10}")
    m = doc["mixed"]
    lines += ["(b) GPU + CPU over gloo, the product's defaults",
              f"  trained to the end: ranks {m['trained_to_the_end']}; samples/s {m['samples_per_s']};"
              f" ÷ GPU alone {m['vs_gpu_alone']}"]  # fmt: skip
    lines += [f"  {why}" for why in m["left_out"]]
    c, d = doc["nccl"], doc["memory_cap"]
    verdict = {True: "ok", False: "FAILED", None: "not run"}[c["ok"]]
    lines.append(f"(c) NCCL world of one: {verdict} (backend {c['backend']})")
    lines.append(f"(d) memory cap: {'ok' if d['ok'] and not d['out_of_memory'] else 'FAILED'},"
                 f" {'capped' if d['capped'] else 'NOT capped'};"
                 f" GPU shares of {d['global_batch']} over the re-plans: {d['gpu_shares']}")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="no GPU: CPU ranks, simple_cnn, a few steps")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=256, help="global batch for (a)-(c)")
    ap.add_argument("--cap-batch", type=int, default=4096, help="global batch for (d)")
    ap.add_argument("--cap-steps", type=int, default=12)
    ap.add_argument("--cpu-threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    a = ap.parse_args()
    import torch

    version = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
    if not a.dry_run and not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no GPU here (torch.cuda.is_available() is False); --dry-run tries it")
    if version < MIN_TORCH:
        sys.exit(f"gpu_check: torch {torch.__version__} is older than 2.11: use a newer torch")
    a.models = ["simple_cnn"] if a.dry_run else ["resnet18", "resnet50"]
    if a.dry_run:
        a.steps, a.batch, a.cap_batch, a.cap_steps = 8, 32, 64, 6
    started = time.time()
    gpu = None
    if not a.dry_run:
        gpu = {"name": torch.cuda.get_device_name(0), "capability": list(torch.cuda.get_device_capability(0)),
               "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        t = Trainer(Path(tmp), a.cpu_threads, a.dry_run)
        doc: dict = {"alone": alone(t, a)}
        best = doc["alone"].get(f"{a.models[0]}/auto", {}).get("samples_per_s")
        doc["mixed"] = mixed(t, a, best)
        doc["nccl"] = nccl(t, a) if not a.dry_run else {"ok": None, "backend": "none: a dry run"}
        doc["memory_cap"] = memory_cap(t, a)
    doc = {"benchmark": "gpu_check", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
           "duration_s": round(time.time() - started, 1), "dry_run": a.dry_run, "torch": torch.__version__,
           "gpu": gpu, "cpus": os.cpu_count(), **doc}  # fmt: skip
    print(table(doc))
    out = RESULTS.with_name("gpu_check_dry_run.json") if a.dry_run else RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {out} in {doc['duration_s']:.0f} s")
    failed = [k for k in ("mixed", "nccl", "memory_cap") if doc[k]["ok"] is False]
    failed += [k for k, row in doc["alone"].items() if not row["ok"]]
    capped = a.dry_run or doc["memory_cap"]["capped"]
    return 1 if failed or doc["memory_cap"]["out_of_memory"] or not capped else 0


if __name__ == "__main__":
    sys.exit(main())
