"""Benchmark: is the cluster faster than its best machine alone, on links shaped like real ones?

Two lab laptops (network namespaces lap1 and lap2, `make lab-up`): a fast one (a cgroup CPU quota of 1.5
CPUs, rank 0 on lap1) and a slow one (0.5 CPUs, rank 1 on lap2). Their links are unshaped, or shaped with
tc to 1 Gbit/s or 300 Mbit/s both ways. For simple_cnn and resnet18, measured side by side in one run:

  * each laptop alone (one process, the whole global batch);
  * plain DDP: equal shares, no balancing, nobody left out;
  * the product's default settings (inventory/group_vars/all.yml and the settings schema: dynamic
    balancing every 10 steps, the cost model, leave-out at a 10 % predicted gain);
  * the same with hetero_sync: bf16 (half the bytes), powersgd (low-rank gradients, a few percent of the
    bytes), local (local SGD: weights averaged every hetero_local_steps steps) and auto (the planner's
    choice among them, which the table names).

samples/s is the steady state: global samples over wall-clock seconds between rank 0's step records after
the first `--settle` fraction of the steps (so after the planner has decided). `vs best` = cluster / best
laptop alone; eta = cluster / (sum of the laptops alone), reported where both ranks were kept; loss = the
mean loss of the last steps relative to the exact step's (equal samples: same steps, same batch). Prints a
table and writes bench/results/link_scaling.json. Needs root and the lab:

    make lab-up && .venv/bin/python -m bench.link_scaling [--steps 60] [--models simple_cnn,resnet18]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.hetero_balance import CpuGroup, cpu_busy_fraction
from bench.samples import free_port, steady
from hetero_train import settings
from tests.lab.config import LAPTOP_IFNAME, REPO, LabConfig
from tests.lab.lab import Lab

RESULTS = REPO / "bench" / "results" / "link_scaling.json"
LAPTOPS = {"fast": ("lap1", 1.5), "slow": ("lap2", 0.5)}
LINKS = ("unshaped", "1gbit", "300mbit")
# The product's defaults: what a rank container's command line gets from the inventory's group_vars.
DEFAULTS = yaml.safe_load((REPO / "inventory" / "group_vars" / "all.yml").read_text())
GLOBAL_BATCH = int(DEFAULTS["hetero_global_batch_size"])
PRODUCT = settings.trainer_argv(DEFAULTS)
MODES = {
    mode: settings.trainer_argv({**DEFAULTS, "hetero_sync": mode})
    for mode in ("bf16", "powersgd", "local", "auto")
}
PLAIN_DDP = settings.trainer_argv(
    {**DEFAULTS, "hetero_balance_policy": "none", "hetero_leave_out_percent": 0}
)
PLAIN_DDP += ["--rank-shares", "1,1"]


def run(
    lab: Lab, name: str, who: list[str], args: list[str], out: Path, groups: dict, mesh: dict | None = None
) -> dict:
    """One configuration: a rank per laptop in `who` (fast first: it is rank 0 and holds the store). Over
    the laptops' own link, or over a mesh ({"addresses": {laptop: address}, "ifname": interface})."""
    lap0 = LAPTOPS[who[0]][0]
    master = mesh["addresses"][lap0] if mesh else lab.laptop(lap0).address
    env = dict(os.environ, MASTER_ADDR=master, MASTER_PORT=str(free_port()), WORLD_SIZE=str(len(who)))
    ifname = mesh["ifname"] if mesh else LAPTOP_IFNAME
    env.update(GLOO_SOCKET_IFNAME=ifname, LOCAL_RANK="0", PYTHONPATH=str(REPO))
    # The flags given last win: each run its own experiment, under a temporary directory.
    cmd = [sys.executable, "-m", "hetero_train", *args, "--output-dir", str(out), "--experiment-name", name]
    procs = []
    for rank, role in enumerate(who):
        threads = "2" if LAPTOPS[role][1] > 1 else "1"  # as many torch threads as the quota has CPUs
        procs.append(
            subprocess.Popen(
                [*lab.nsenter(LAPTOPS[role][0]), "env", f"RANK={rank}", f"OMP_NUM_THREADS={threads}", *cmd],
                env=env,
                cwd=REPO,
                preexec_fn=groups[role].join,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=1800) for p in procs]
    for p, (_o, err) in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            sys.exit(f"{name} failed:\n{err[-2000:]}")
    events = [json.loads(line) for line in outputs[0][0].splitlines() if line.startswith("{")]
    steps = json.loads((out / name / "logs" / "rank_0_metrics.json").read_text())["steps"]
    left = [json.loads(line) for o, _ in outputs for line in o.splitlines() if '"event": "left_out"' in line]
    forecasts = [e for e in events if e["event"] == "forecast"]
    chosen = [e["chosen"] for e in events if e["event"] == "sync_choice"]
    return {
        "sync_chosen": chosen[0] if chosen else None,
        "steps": steps,
        "left_out": [{"rank": e["rank"], "step": e["step"], "reason": e["reason"]} for e in left],
        "predicted_samples_per_s": forecasts[-1]["best_subset_samples_per_s"] if forecasts else None,
    }


SIDES = {"plain_ddp": PLAIN_DDP, "product": PRODUCT, **MODES}
# Quality at equal samples: every side trains the same number of steps of the same global batch, so the mean
# loss of the last LOSS_TAIL steps compares the models they reached (relative to the exact step's).
LOSS_TAIL = 10
# Steps per model (cluster run, laptop-alone run): simple_cnn's steps take a tenth of a second, and a
# steady figure needs tens of seconds of them.
STEPS = {"simple_cnn": (200, 100), "resnet18": (60, 30)}


def one_model(lab: Lab, model: str, a, out: Path, groups: dict) -> dict:
    common = ["--model", model, "--save-every", "0"]
    steps, alone_steps = a.steps or STEPS[model][0], a.alone_steps or STEPS[model][1]

    def alone(role: str, name: str) -> float:
        progress(f"{model}: {role} laptop alone")
        args = [*PRODUCT, *common, "--max-steps", str(alone_steps)]  # alone: nothing to balance
        return steady(run(lab, name, [role], args, out, groups)["steps"], 0.3)

    row: dict = {"alone": {role: alone(role, f"{model}-{role}-alone") for role in LAPTOPS}, "links": {}}
    for link in a.links:
        # The best machine alone again, right beside this link's cluster runs: the machine's own drift
        # between runs minutes apart is as large as the differences this benchmark is after.
        best = alone("fast", f"{model}-{link}-fast-alone")
        total = best + row["alone"]["slow"]
        cell: dict = {"fast_alone": round(best, 1)}
        with lab.shaped(link):
            for side, extra in SIDES.items():
                progress(f"{model}: {side} over a {link} link")
                got = run(lab, f"{model}-{link}-{side}", ["fast", "slow"],
                          [*extra, *common, "--max-steps", str(steps)], out, groups)  # fmt: skip
                speed = steady(got["steps"], a.settle)
                kept = not got["left_out"]
                cell[side] = {
                    "samples_per_s": round(speed, 1),
                    "vs_best_alone": round(speed / best, 3),
                    "eta": round(speed / total, 3) if kept else None,
                    "ranks_kept": 2 if kept else 1,
                    "left_out": got["left_out"],
                    "predicted_samples_per_s": got["predicted_samples_per_s"],
                    "final_shares": got["steps"][-1]["shares"],
                    "final_loss": round(final_loss(got["steps"]), 4),
                    **({"sync_chosen": got["sync_chosen"]} if side == "auto" else {}),
                }
            exact = cell["product"]["final_loss"]  # the product's default sync is the exact step
            for side in SIDES:
                cell[side]["loss_vs_exact"] = round(cell[side]["final_loss"] / exact, 3)
        row["links"][link] = cell
    return row


def final_loss(steps: list[dict]) -> float:
    tail = steps[-LOSS_TAIL:]
    return sum(s["loss"] for s in tail) / len(tail)


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def table(results: dict) -> str:
    """One row per model and link: each side's samples/s, its ratio to the fast laptop alone, and who
    trained to the end (2: both laptops, with eta; 1: the slow one was left out), and its final loss relative
    to the exact step's at equal samples; last, the mode the auto side chose."""
    head = f"{'model':<11} {'link':<9} {'fast':>6} {'slow':>6}"
    for side in SIDES:
        head += f" | {side:>9} {'÷best':>5} {'kept':>4} {'eta':>4} {'loss':>5}"
    head += f" | {'auto chose':>8}"
    lines = [head, "-" * len(head)]
    for model, row in results.items():
        slow = row["alone"]["slow"]
        for link, cell in row["links"].items():
            line = f"{model:<11} {link:<9} {cell['fast_alone']:>6.0f} {slow:>6.0f}"
            for side in SIDES:
                c = cell[side]
                eta = f"{c['eta']:.2f}" if c["eta"] is not None else "-"
                line += (
                    f" | {c['samples_per_s']:>9.0f} {c['vs_best_alone']:>5.2f} {c['ranks_kept']:>4} {eta:>4}"
                    f" {c['loss_vs_exact']:>5.2f}"
                )
            lines.append(f"{line} | {cell['auto']['sync_chosen']:>8}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="simple_cnn,resnet18")
    ap.add_argument("--links", default=",".join(LINKS))
    ap.add_argument("--steps", type=int, help="steps per cluster run (default: per model, STEPS)")
    ap.add_argument("--alone-steps", type=int, help="steps per laptop-alone run (default: per model)")
    ap.add_argument("--settle", type=float, default=0.5, help="fraction of steps left out of the timing")
    a = ap.parse_args()
    a.links = a.links.split(",")
    lab = Lab.load(LabConfig())
    if lab is None or lab.problems():
        sys.exit("the lab is not up and healthy: run `make lab-up` first")
    groups = {role: CpuGroup(f"hetero_links_{role}", cpus) for role, (_lap, cpus) in LAPTOPS.items()}
    started, busy_before = time.time(), cpu_busy_fraction()
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="link-scaling-", dir=REPO / "build") as tmp:
            for model in a.models.split(","):
                results[model] = one_model(lab, model, a, Path(tmp), groups)
    finally:
        for g in groups.values():
            g.remove()
    print(f"\nfast laptop: {LAPTOPS['fast'][1]} CPUs (lap1, rank 0); slow laptop: {LAPTOPS['slow'][1]} CPUs"
          f" (lap2); global batch {GLOBAL_BATCH}; synthetic 32x32 images; gloo; samples/s in steady state"
          f" (after the first {a.settle:.0%} of the steps); the fast laptop alone is measured again beside"
          f" each link's runs, and ÷best divides by that\n")  # fmt: skip
    print(table(results))
    busy_after = cpu_busy_fraction()
    print(f"\nmachine: {os.cpu_count()} CPUs, busy {busy_before:.0%} before / {busy_after:.0%} after")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "link_scaling",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "setup": {
            "laptops": {role: {"laptop": lap, "cpus": cpus} for role, (lap, cpus) in LAPTOPS.items()},
            "global_batch_size": GLOBAL_BATCH,
            "steps": {m: [a.steps or c, a.alone_steps or al] for m, (c, al) in STEPS.items()},
            "settle": a.settle,
            "product_args": PRODUCT,
            **{f"{mode}_args": args for mode, args in MODES.items()},
            "plain_ddp_args": PLAIN_DDP,
        },
        "machine": {"cpus": os.cpu_count(), "busy_before": busy_before, "busy_after": busy_after},
        "results": results,
    }
    RESULTS.write_text(json.dumps(doc, indent=1))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
