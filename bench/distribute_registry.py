"""Tarball vs registry distribution to the lab laptops, side by side in one run (hetero_image_transport).

For each transport, from nothing: the first distribution, a re-run with the image unchanged, a re-run after a
one-line code change (in a frozen copy of the tree), and back to the original code. Bytes are what reached
each laptop (its veth counters on the controller side: the controller's copies and pushes, and registry
pulls from the master). A separate image name (hetero-trainer-bench) leaves other work's images alone.
Prints a table and writes bench/results/distribute_registry.json.
Run: .venv/bin/python -m bench.distribute_registry"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from tests.lab import LabConfig, session
from tests.lab.pipeline import REPO, run_playbook, snapshot_repo, tx_bytes

RESULTS = REPO / "bench" / "results" / "distribute_registry.json"
IMAGE = "hetero-trainer-bench"
STEPS = [
    "first distribution",
    "re-run, image unchanged",
    "re-run after a one-line code change",
    "back to the original",
]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def clear(lab, original: Path) -> None:
    """No laptop holds the image, no tarball is saved, the master runs no registry (nothing stored)."""
    for lap in lab.laptops:
        lab.docker(lap.name, "rmi", "--force", f"{IMAGE}:cpu", f"10.77.0.11:5000/{IMAGE}:cpu")
    lab.docker("lap1", "rm", "--force", "hetero-registry")
    lab.run("lap1", "rm -rf /var/lib/hetero-cluster/registry")
    for old in (original / "build" / "images").glob(f"{IMAGE}-cpu-*"):
        old.unlink()


def distribute(lab, repo: Path, work: Path, transport: str, step: str) -> dict:
    before = {lap.name: tx_bytes(lab, lap) for lap in lab.laptops}
    start = time.monotonic()
    extra = {"hetero_image_transport": transport, "hetero_image_name": IMAGE}
    run = run_playbook(
        "playbooks/distribute.yml", lab.inventory, work / f"{transport}-{step}", extra, repo=repo
    )
    seconds = time.monotonic() - start
    if run.rc != 0:
        raise SystemExit(f"distribute.yml ({transport}) failed in step {step!r}:\n{run.stdout[-3000:]}")
    sent = sum(tx_bytes(lab, lap) - before[lap.name] for lap in lab.laptops)
    log(f"{transport}: {step}: {seconds:.1f} s, {sent / 1e6:.1f} MB to the laptops")
    return {"transport": transport, "step": step, "seconds": round(seconds, 1), "bytes_sent": sent}


def main() -> None:
    with session(LabConfig()) as lab, tempfile.TemporaryDirectory(prefix="hetero-bench-") as tmp:
        work = Path(tmp)
        original = snapshot_repo(work / "original")
        changed = snapshot_repo(work / "changed")
        init = changed / "hetero_train" / "__init__.py"
        init.write_text(init.read_text() + "# bench/distribute_registry.py: a one-line change\n")
        rows = []
        for transport in ("tarball", "registry"):
            log(f"{transport}: clearing the laptops, saved tarballs and the registry")
            clear(lab, original)
            for step, repo in zip(STEPS, [original, original, changed, original], strict=True):
                rows.append(distribute(lab, repo, work, transport, step))

    by = {(r["transport"], r["step"]): r for r in rows}
    print(f"{'step':38} {'tarball s':>9} {'MB':>8} {'registry s':>10} {'MB':>8} {'MB reg/tar':>10}")
    for step in STEPS:
        t, r = by[("tarball", step)], by[("registry", step)]
        ratio = r["bytes_sent"] / t["bytes_sent"] if t["bytes_sent"] else float("nan")
        print(
            f"{step:38} {t['seconds']:9.1f} {t['bytes_sent'] / 1e6:8.1f} {r['seconds']:10.1f}"
            f" {r['bytes_sent'] / 1e6:8.1f} {ratio:10.3f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"laptops": 3, "runs": rows}, indent=2))
    print(f"written: {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
