"""Remove everything a lab made, from its state or from crash leftovers alike: processes, namespaces, veths,
bridge, FORWARD rule, cgroups, mounts, mount points it created, and its state directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

from .config import LabConfig
from .laptop import CGROUP_ROOT
from .network import (
    bridge_exists,
    delete_network,
    forward_rule_present,
    host_veths,
    lab_namespaces,
    namespace_pids,
)
from .shell import progress, run

CREATED_MOUNTPOINTS = "created-mountpoints.txt"


def lab_pids(cfg: LabConfig) -> set[int]:
    """Every process in a lab namespace, plus containers (lab cgroups) with a network of their own."""
    pids = {pid for netns in lab_namespaces(cfg) for pid in namespace_pids(netns)}
    for procs in CGROUP_ROOT.glob(f"*/{cfg.cgroup}/**/cgroup.procs"):
        with contextlib.suppress(OSError):
            pids.update(int(p) for p in procs.read_text().split())
    pids.discard(os.getpid())
    return pids


def kill_all(cfg: LabConfig, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while pids := lab_pids(cfg):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeError(f"lab processes survive SIGKILL: {sorted(pids)}")
        time.sleep(0.2)


def remove_cgroups(cfg: LabConfig, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    for top in CGROUP_ROOT.glob(f"*/{cfg.cgroup}"):
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            while True:
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    # Killed tasks leave their cgroup a moment after they die.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)


def lab_mounts(cfg: LabConfig, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Mounts (of the root mount namespace by default) that come from the lab's state directory."""
    state = str(cfg.state_dir)
    targets = []
    with contextlib.suppress(OSError):  # the process may be gone
        for line in mountinfo.read_text().splitlines():
            fields = line.split()
            if fields[3].startswith(state) or fields[4].startswith(state):
                targets.append(fields[4])
    return targets


def remove_created_mountpoints(cfg: LabConfig) -> None:
    record = cfg.state_dir / CREATED_MOUNTPOINTS
    if not record.exists():
        return
    for path in record.read_text().split():
        # Not empty: something else put files there since, not ours to delete.
        with contextlib.suppress(OSError):
            os.rmdir(path)


def teardown(cfg: LabConfig) -> None:
    if lab_namespaces(cfg) or lab_pids(cfg):
        progress("stopping laptop processes (sshd, dockerd, containers)")
        kill_all(cfg)
    progress("removing namespaces, veths, bridge and firewall rule")
    delete_network(cfg)
    remove_cgroups(cfg)
    for target in reversed(lab_mounts(cfg)):
        run(["umount", "-l", target], check=False)
    remove_created_mountpoints(cfg)
    if cfg.state_dir.exists():
        progress(f"removing {cfg.state_dir}")
        shutil.rmtree(cfg.state_dir)


def leftovers(cfg: LabConfig) -> list[str]:
    """What of a lab still exists; empty after a clean teardown."""
    found = [f"namespace {n}" for n in lab_namespaces(cfg)]
    found += [f"process {p}" for p in sorted(lab_pids(cfg))]
    found += [f"veth {v}" for v in host_veths(cfg)]
    found += [f"bridge {cfg.bridge}"] if bridge_exists(cfg) else []
    found += ["iptables FORWARD rule"] if forward_rule_present(cfg) else []
    found += [f"cgroup {p}" for p in CGROUP_ROOT.glob(f"*/{cfg.cgroup}")]
    for info in Path("/proc").glob("[0-9]*/mountinfo"):
        found += [f"mount {m} (seen by pid {info.parent.name})" for m in lab_mounts(cfg, info)]
    found += [f"directory {cfg.state_dir}"] if cfg.state_dir.exists() else []
    return found
