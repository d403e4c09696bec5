"""Benchmark: what the encrypted mesh (hetero_mesh: wireguard) costs in training speed.

Two lab laptops (`make lab-up`): a fast one (rank 0 on lap1, a cgroup CPU quota of 1.5 CPUs) and a slow one
(lap2, 0.5 CPUs), their links shaped with tc to 1 Gbit/s both ways. resnet18 (45 MB of gradients per step)
with the product's settings, both laptops kept (hetero_leave_out_percent 0, so that every step's
all-reduce crosses the link), measured side by side in one run:

  * the fast laptop alone (the best machine alone: the yardstick);
  * both laptops over their plain link;
  * both laptops over the mesh: provision (`--tags mesh`) sets it up as a user would, on every lab laptop,
    with wireguard-go (this kernel has no WireGuard module); the ranks get the mesh's addresses and interface,
    as the launch playbook gives them; afterwards hetero_mesh: none removes it again.

samples/s is the steady state (bench/samples.py). `÷best` = cluster / fast laptop alone; `÷plain` = mesh /
plain link. wireguard-go's own CPU is not in the laptops' quotas: on two cores it competes with the ranks.
Prints a table and writes bench/results/mesh.json. Needs root and the lab:

    make lab-up && .venv/bin/python -m bench.mesh [--steps 40]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from hetero_tui.services.runner import run_playbook

from bench.hetero_balance import CpuGroup, cpu_busy_fraction
from bench.link_scaling import DEFAULTS, LAPTOPS, progress, run
from bench.samples import steady
from hetero_train import settings
from tests.lab.config import REPO, LabConfig
from tests.lab.lab import Lab

RESULTS = REPO / "bench" / "results" / "mesh.json"
LINK = "1gbit"
MODEL = "resnet18"
BOTH_KEPT = settings.trainer_argv({**DEFAULTS, "hetero_leave_out_percent": 0})


def mesh_addresses(lab: Lab) -> dict[str, str]:
    """Each laptop's mesh address as roles/hardware plans it: the subnet's hosts in inventory order."""
    subnet = ipaddress.ip_network(settings.BY_NAME["hetero_mesh_subnet"].default)
    return {lap.name: str(subnet[i + 1]) for i, lap in enumerate(lab.laptops)}


def provision_mesh(lab: Lab, kind: str, out: Path) -> None:
    progress(f"provision --tags mesh with hetero_mesh: {kind}")
    done = run_playbook(
        "playbooks/provision.yml", lab.inventory, "--tags", "mesh",
        extravars={"hetero_mesh": kind}, artifacts=out / f"mesh-{kind}", timeout=1200,
    )  # fmt: skip
    if done.rc != 0:
        sys.exit(f"provision with hetero_mesh: {kind} failed:\n{done.stdout[-3000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=40, help="steps per cluster run")
    ap.add_argument("--alone-steps", type=int, default=20, help="steps of the fast laptop alone")
    ap.add_argument("--settle", type=float, default=0.5, help="fraction of steps left out of the timing")
    a = ap.parse_args()
    lab = Lab.load(LabConfig())
    if lab is None or lab.problems():
        sys.exit("the lab is not up and healthy: run `make lab-up` first")
    groups = {role: CpuGroup(f"hetero_mesh_{role}", cpus) for role, (_lap, cpus) in LAPTOPS.items()}
    mesh = {"addresses": mesh_addresses(lab), "ifname": settings.BY_NAME["hetero_mesh_interface"].default}
    common = ["--model", MODEL, "--save-every", "0"]
    cluster = [*BOTH_KEPT, *common, "--max-steps", str(a.steps)]
    started, busy_before = time.time(), cpu_busy_fraction()
    sides: dict = {}
    try:
        with tempfile.TemporaryDirectory(prefix="mesh-", dir=REPO / "build") as tmp, lab.shaped(LINK):
            out = Path(tmp)
            progress("fast laptop alone")
            got = run(
                lab, "alone", ["fast"], [*BOTH_KEPT, *common, "--max-steps", str(a.alone_steps)], out, groups
            )
            sides["fast_alone"] = steady(got["steps"], 0.3)
            progress(f"both laptops over a plain {LINK} link")
            sides["plain"] = steady(
                run(lab, "plain", ["fast", "slow"], cluster, out, groups)["steps"], a.settle
            )
            provision_mesh(lab, "wireguard", out)
            try:
                progress(f"both laptops over the mesh on a {LINK} link")
                got = run(lab, "mesh", ["fast", "slow"], cluster, out, groups, mesh=mesh)
                sides["mesh"] = steady(got["steps"], a.settle)
            finally:
                provision_mesh(lab, "none", out)
    finally:
        for g in groups.values():
            g.remove()
    best = sides["fast_alone"]
    batch = DEFAULTS["hetero_global_batch_size"]
    print(f"\n{MODEL}, global batch {batch}, {LINK} link, fast laptop 1.5 CPUs, slow 0.5; steady samples/s\n")
    print(f"{'side':<12} {'samples/s':>9} {'÷best':>6} {'÷plain':>7}")
    for side, speed in sides.items():
        print(f"{side:<12} {speed:>9.1f} {speed / best:>6.2f} {speed / sides['plain']:>7.2f}")
    busy_after = cpu_busy_fraction()
    print(f"\nmachine: {os.cpu_count()} CPUs, busy {busy_before:.0%} before / {busy_after:.0%} after")
    doc = {
        "benchmark": "mesh",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "setup": {
            "model": MODEL,
            "link": LINK,
            "steps": a.steps,
            "alone_steps": a.alone_steps,
            "settle": a.settle,
            "args": BOTH_KEPT,
            "laptops": LAPTOPS,
        },  # fmt: skip
        "machine": {"cpus": os.cpu_count(), "busy_before": busy_before, "busy_after": busy_after},
        "samples_per_s": {k: round(v, 1) for k, v in sides.items()},
        "mesh_vs_plain": round(sides["mesh"] / sides["plain"], 3),
        "mesh_vs_best_alone": round(sides["mesh"] / best, 3),
        "plain_vs_best_alone": round(sides["plain"] / best, 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
