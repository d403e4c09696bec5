"""One laptop: a holder process keeps its mount and UTS namespaces (inside its network namespace); sshd and
dockerd run in them, so the default paths (/run/docker.sock, /var/lib/docker, /var/lib/hetero-cluster, /tmp)
are real and separate per laptop."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from .config import LAPTOP_SIDE, PRIVATE_DIRS, PRIVATE_FILES, LabConfig, Laptop
from .shell import CommandError, run, wait_until
from .system import start_dockerd_like_init_script

CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000


def nsenter(holder_pid: int) -> list[str]:
    return ["nsenter", "-t", str(holder_pid), "-m", "-n", "-u"]


def docker_socket(cfg: LabConfig, laptop: Laptop) -> Path:
    # The laptop's /run is this directory, so its default socket is reachable from the controller too.
    return cfg.laptop_dir(laptop) / "run" / "docker.sock"


def mountpoints_needed() -> list[str]:
    """Mount targets missing on this machine; the lab creates them (and lab-down removes them)."""
    return [p for p in [*PRIVATE_DIRS, *PRIVATE_FILES] if not Path(p).exists()]


def prepare_files(cfg: LabConfig, laptop: Laptop, hosts_lines: list[str]) -> None:
    d = cfg.laptop_dir(laptop)
    for sub in PRIVATE_DIRS.values():
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "tmp").chmod(0o1777)
    cfg.laptop_side(laptop).mkdir(parents=True)
    (d / "log" / "apt").mkdir(exist_ok=True)  # apt-get (say, from Ansible) logs there
    (d / "hosts").write_text("127.0.0.1 localhost\n" + "\n".join(hosts_lines) + "\n")
    (d / "bashrc").write_text("# The lab laptop's own root shell setup: deliberately empty.\n")
    daemon = {
        "bridge": "none",  # containers use host networking; no docker0 or NAT inside a laptop
        "iptables": False,
        "ip-masq": False,
        "ip-forward": False,
        "cgroup-parent": f"/{cfg.cgroup}/{laptop.name}",  # the laptop's CPU quota applies to its containers
    }
    (d / "etc-docker" / "daemon.json").write_text(json.dumps(daemon, indent=2) + "\n")
    (cfg.laptop_side(laptop) / "sshd_config").write_text(
        "\n".join(
            [
                f"ListenAddress {laptop.address}",
                f"HostKey {LAPTOP_SIDE}/ssh_host_ed25519_key",
                "PidFile /run/sshd.pid",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                f"AuthorizedKeysFile {LAPTOP_SIDE}/authorized_keys",
                "Subsystem sftp /usr/lib/openssh/sftp-server",
                "",
            ]
        )
    )


def create_cpu_cgroup(cfg: LabConfig, laptop: Laptop) -> None:
    cg = CGROUP_ROOT / "cpu" / cfg.cgroup / laptop.name
    cg.mkdir(parents=True, exist_ok=True)
    (cg / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
    (cg / "cpu.cfs_quota_us").write_text(str(int(laptop.cpus * CFS_PERIOD_US)))


def holder_script(cfg: LabConfig, laptop: Laptop) -> str:
    """The holder's shell script: give the laptop its private directories and files, then wait forever."""
    d = cfg.laptop_dir(laptop)
    brought_back = cfg.brought_back()
    # The checkout and state dir under a private directory (a checkout under /tmp) are bind-mounted into the
    # laptop's own copy first, at the same path, while the machine's still shows; that copy then goes over
    # the directory with its submounts (--rbind). So the laptop sees them as with a checkout under /work.
    stage = [
        (path, d / PRIVATE_DIRS[target] / path.relative_to(Path(target).resolve()))
        for target, paths in brought_back.items()
        for path in paths
    ]
    binds = [(d / sub, target) for target, sub in {**PRIVATE_DIRS, **PRIVATE_FILES}.items()]
    # A target holding the state dir goes last: the sources of the others must stay visible.
    binds.sort(key=lambda bind: d.resolve().is_relative_to(Path(bind[1]).resolve()))
    q = shlex.quote
    return "\n".join(
        [
            "set -e",
            f"hostname {laptop.name}",
            *(f"mkdir -p {q(str(at))} && mount --bind {q(str(path))} {q(str(at))}" for path, at in stage),
            *(
                f"mount {'--rbind' if target in brought_back else '--bind'} {q(str(src))} {target}"
                for src, target in binds
            ),
            "mkdir -p /run/sshd /run/lock",
            "echo ready",
            "exec sleep infinity >/dev/null",
        ]
    )


def start_holder(cfg: LabConfig, laptop: Laptop) -> int:
    """Start the process owning the laptop's mount namespace; returns its pid once the mounts are in place."""
    d = cfg.laptop_dir(laptop)
    with (d / "holder.log").open("w") as log:
        proc = subprocess.Popen(
            [
                *["nsenter", f"--net=/run/netns/{laptop.name}"],
                *["unshare", "--mount", "--uts", "--propagation", "private"],
                *["sh", "-c", holder_script(cfg, laptop)],
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,  # outlives `make lab-up`
        )
    line = proc.stdout.readline().strip()
    proc.stdout.close()
    if line != "ready":
        log_text = (d / "holder.log").read_text().strip()
        raise CommandError(f"{laptop.name}: namespace holder failed: {log_text}")
    return proc.pid


def holder_alive(pid: int, laptop: Laptop) -> bool:
    """True while `pid` lives in the laptop's network namespace (not a dead one, nor a recycled pid)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{laptop.name}").st_ino
    except OSError:
        return False


def bind_private_copy(holder_pid: int, cfg: LabConfig, laptop: Laptop, target: str) -> None:
    """From now on the laptop has its own copy of the machine's directory `target` (idempotent). Called again
    after the machine's directory gained files (a package such as ufw installed after the copy was made),
    the copy gains them too; what the laptop wrote there itself is never overwritten."""
    copy = Path("copies") / target.lstrip("/")
    own = cfg.laptop_side(laptop) / copy
    shutil.copytree(target, own, symlinks=True, dirs_exist_ok=True, copy_function=_copy_if_missing)
    mounted = [line.split()[4] for line in Path(f"/proc/{holder_pid}/mountinfo").read_text().splitlines()]
    if target not in mounted:
        run([*nsenter(holder_pid), "mount", "--bind", f"{LAPTOP_SIDE}/{copy}", target])


def _copy_if_missing(source: str, destination: str) -> None:
    if not os.path.lexists(destination):
        shutil.copy2(source, destination)


def start_sshd(holder_pid: int, cfg: LabConfig, laptop: Laptop) -> None:
    run([*nsenter(holder_pid), "/usr/sbin/sshd", "-f", f"{LAPTOP_SIDE}/sshd_config"])


def start_dockerd(holder_pid: int, cfg: LabConfig, laptop: Laptop) -> None:
    start_dockerd_like_init_script(nsenter(holder_pid))


def wait_dockerd(cfg: LabConfig, laptop: Laptop, timeout: float = 60) -> None:
    sock = docker_socket(cfg, laptop)
    wait_until(
        f"{laptop.name}'s Docker engine (log: {cfg.laptop_dir(laptop) / 'log' / 'docker.log'})",
        lambda: docker_responds(sock),
        timeout=timeout,
    )


def docker_responds(sock: Path) -> bool:
    if not sock.exists():
        return False
    return run(["docker", "-H", f"unix://{sock}", "version"], check=False, timeout=20).returncode == 0
