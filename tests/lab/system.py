"""What the lab needs from the machine: packages (apt-get installs what is missing) and Docker."""

from __future__ import annotations

import os
import shutil

from .shell import CommandError, ok, progress, run, wait_until

# command -> Debian package providing it
REQUIRED = {
    "dockerd": "docker.io",  # the docker client on PATH alone is not an engine
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "iptables": "iptables",
    "debootstrap": "debootstrap",
    "zstd": "zstd",
    "nsenter": "util-linux",
    "start-stop-daemon": "dpkg",
    # playbooks/data.yml (ansible.posix.synchronize) runs rsync on the controller and on every host
    "rsync": "rsync",
    # roles/mesh (hetero_mesh: wireguard) installs these on a real host; the laptops have no network
    "wg": "wireguard-tools",
    "wireguard-go": "wireguard-go",  # this kernel has no WireGuard module
}
SBIN = ("/usr/sbin", "/sbin")
# Python module (of the system python3, the one Ansible uses on a laptop) -> Debian package. The laptops
# share this machine's /usr and have no network, so what provision installs on a real laptop must already be
# here: python3-requests is roles/docker's hetero_docker_support_packages (community.docker needs it), and
# python3-apt is what package_facts reads the installed packages with.
REQUIRED_MODULES = {"requests": "python3-requests", "apt": "python3-apt"}


def _have(command: str) -> bool:
    return shutil.which(command) is not None or any(os.access(f"{d}/{command}", os.X_OK) for d in SBIN)


def _importable(module: str) -> bool:
    return ok(["/usr/bin/python3", "-c", f"import {module}"], timeout=60)


def ensure_packages() -> None:
    missing = sorted(
        {pkg for cmd, pkg in REQUIRED.items() if not _have(cmd)}
        | {pkg for module, pkg in REQUIRED_MODULES.items() if not _importable(module)}
    )
    if not missing:
        return
    progress(f"installing {' '.join(missing)} with apt-get (once per machine)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], env=env, timeout=600)
    run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env, timeout=1200)


def host_docker_running() -> bool:
    return ok(["docker", "-H", "unix:///var/run/docker.sock", "info"], timeout=30)


def start_dockerd_like_init_script(nsenter: list[str] | None = None) -> None:
    """Start dockerd the way /etc/init.d/docker does, so `service docker status|stop` work on it.

    `service docker start` itself fails on machines whose hard open-files limit is below 1048576 and whose
    root lacks CAP_SYS_RESOURCE (this one): the script's `ulimit -n 1048576` aborts it under `set -e`.
    """
    script = (
        "mkdir -p /var/log && start-stop-daemon --start --background --no-close --exec /usr/sbin/dockerd"
        " --pidfile /var/run/docker-ssd.pid --make-pidfile -- -p /var/run/docker.pid"
        " >> /var/log/docker.log 2>&1"
    )
    run([*(nsenter or []), "sh", "-c", script])


def ensure_host_docker() -> None:
    """The controller builds and saves images with the host's own engine."""
    if host_docker_running():
        return
    progress("starting the host Docker engine")
    if ok(["service", "docker", "start"]) and _eventually(host_docker_running, 30):
        return
    if not host_docker_running():
        start_dockerd_like_init_script()
    wait_until("the host Docker engine (see /var/log/docker.log)", host_docker_running, timeout=60)


def _eventually(predicate, seconds: float) -> bool:
    try:
        wait_until("", predicate, timeout=seconds)
        return True
    except CommandError:
        return False
