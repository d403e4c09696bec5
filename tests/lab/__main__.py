"""python -m tests.lab up -n 3 [--cpus 1.0,0.6,0.4] [--links 1gbit,300mbit] | down | status | base-image"""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import base_image, system
from .config import DEFAULT_CPUS, LabConfig, parse_cpus
from .lab import down, status, up
from .links import PROFILES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="The hetero-cluster test lab.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="bring N laptops up (reuses a healthy lab of the same shape)")
    p_up.add_argument("-n", type=int, default=3, help="number of laptops (default 3)")
    p_up.add_argument(
        "--cpus",
        default=",".join(map(str, DEFAULT_CPUS)),
        help="CPU quota per laptop, comma-separated; the last repeats (default 1.0,0.6,0.4)",
    )
    p_up.add_argument(
        "--links",
        default="",
        help="each laptop's link: a profile (" + ", ".join(PROFILES) + ") or rates per laptop, the last"
        " repeating, e.g. 1gbit,1gbit,300mbit (1gbit/2ms adds delay where the kernel has netem);"
        " default unshaped",
    )
    sub.add_parser("down", help="remove everything the lab made")
    sub.add_parser("status", help="report the lab's health (exit 0 when healthy)")
    sub.add_parser("base-image", help="build hetero-base:bookworm unless the cached one matches its recipe")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (RuntimeError, subprocess.CalledProcessError) as e:  # CommandError is a RuntimeError
        # Whatever a failed lab-up left behind, the next lab-up (or lab-down) removes.
        print(f"lab: {args.command} failed: {e}", file=sys.stderr)
        return 1


def _run(args) -> int:
    if args.command == "up":
        try:
            cfg = LabConfig(n=args.n, cpus=parse_cpus(args.cpus), links=args.links)
        except ValueError as e:
            print(f"lab: {e}", file=sys.stderr)
            return 2
        lab = up(cfg)
        print(
            f"lab up: {', '.join(f'{x.name}={x.address} ({lab.link(x)})' for x in lab.laptops)};"
            f" inventory {lab.inventory}"
        )
    elif args.command == "down":
        down(LabConfig())
    elif args.command == "status":
        healthy, lines = status(LabConfig())
        print("\n".join(lines))
        return 0 if healthy else 1
    elif args.command == "base-image":
        system.ensure_packages()
        system.ensure_host_docker()
        base_image.ensure_base_image()
    return 0


if __name__ == "__main__":
    sys.exit(main())
