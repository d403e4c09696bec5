"""Image distribution to the lab laptops: time and bytes on the wire for
  1. the first distribution (no laptop holds the image, no tarball saved yet),
  2. a re-run with the image unchanged,
  3. a re-run after a one-line code change (made in a temporary copy of the repository),
  4. going back to the original code (the controller's tag moves back, every laptop receives it again).
Bytes are what the controller sent to each laptop (its veth counters), so SSH overhead counts too.
Prints a table and writes bench/results/distribute.json.   Run: .venv/bin/python -m bench.distribute"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.lab import LabConfig, session
from tests.lab.pipeline import (
    OWN_LAB,
    REPO,
    controller_image_id,
    laptop_image_id,
    run_playbook,
    snapshot_repo,
    tx_bytes,
)

RESULTS = REPO / "bench" / "results" / "distribute.json"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def distribute(lab, repo: Path, work: Path, label: str) -> dict:
    sent_before = {lap.name: tx_bytes(lab, lap) for lap in lab.laptops}
    start = time.monotonic()
    run = run_playbook("playbooks/distribute.yml", lab.inventory, work / label, repo=repo)
    seconds = time.monotonic() - start
    if run.rc != 0:
        raise SystemExit(f"distribute.yml failed in step {label!r}:\n{run.stdout[-3000:]}")
    sent = {lap.name: tx_bytes(lab, lap) - sent_before[lap.name] for lap in lab.laptops}
    copied = [lap.name for lap in lab.laptops if "ok" in run.statuses("image : Copy the tarball", lap.name)]
    tarballs = sorted((repo / "build" / "images").glob("hetero-trainer-cpu-*.tar.zst"))
    row = {
        "step": label,
        "seconds": round(seconds, 1),
        "bytes_sent": sum(sent.values()),
        "bytes_sent_per_laptop": sent,
        "laptops_copied_to": copied,
        "tarball_bytes": tarballs[-1].stat().st_size if tarballs else None,
        "changed": run.changed_in("Distribute"),
        "image_id": controller_image_id(repo=repo),
    }
    assert all(laptop_image_id(lab, lap.name) == row["image_id"] for lap in lab.laptops)
    log(f"{label}: {row['seconds']} s, {row['bytes_sent'] / 1e6:.1f} MB sent, copied to {copied or 'none'}")
    return row


def main() -> None:
    # HETERO_DELIVERY_OWN_LAB=1: a lab of our own, untouched by other sessions (tests/lab/pipeline.py).
    config = OWN_LAB if os.environ.get("HETERO_DELIVERY_OWN_LAB") == "1" else LabConfig()
    with session(config) as lab, tempfile.TemporaryDirectory(prefix="hetero-bench-") as tmp:
        work = Path(tmp)
        # Frozen copies of the working tree (no saved tarballs in them): the original, and one with a change.
        original = snapshot_repo(work / "original")
        changed = snapshot_repo(work / "changed")
        init = changed / "hetero_train" / "__init__.py"
        init.write_text(init.read_text() + "# bench/distribute.py: a one-line change\n")
        log("removing the image from every laptop, so the first run starts from nothing")
        for lap in lab.laptops:
            lab.docker(lap.name, "rmi", "--force", "hetero-trainer:cpu")

        rows = [distribute(lab, original, work, "first distribution")]
        rows.append(distribute(lab, original, work, "re-run, image unchanged"))
        rows.append(distribute(lab, changed, work, "re-run after a one-line code change"))
        rows.append(distribute(lab, original, work, "back to the original code"))

    first = rows[0]
    print(f"{'step':40} {'seconds':>8} {'MB sent':>9} {'vs first':>9}  copied to")
    for row in rows:
        ratio = row["bytes_sent"] / first["bytes_sent"] if first["bytes_sent"] else 0
        copied = ", ".join(row["laptops_copied_to"]) or "-"
        print(f"{row['step']:40} {row['seconds']:8.1f} {row['bytes_sent'] / 1e6:9.1f} {ratio:9.3f}  {copied}")
    size = first["tarball_bytes"] or 0
    laptops = len(first["bytes_sent_per_laptop"])
    print(f"tarball (docker save | zstd -3): {size / 1e6:.1f} MB; laptops: {laptops}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"laptops": laptops, "runs": rows}, indent=2))
    print(f"written: {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
