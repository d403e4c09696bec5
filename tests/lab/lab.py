"""Bring a lab up, check it, take it down; and `Lab`, the handle tests use to work inside laptops."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import time
from pathlib import Path

from . import inventory, keys, laptop, links, network, system
from .config import COPIED_DIRS, LAPTOP_IFNAME, LabConfig, Laptop
from .shell import argv, progress, run
from .teardown import CREATED_MOUNTPOINTS, teardown


@contextlib.contextmanager
def locked(cfg: LabConfig):
    """One lab-up/lab-down at a time per lab (several helpers and test sessions share the machine)."""
    # The lock is on the state dir's parent directory itself, so it leaves no file behind.
    cfg.state_dir.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(cfg.state_dir.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Lab:
    """A running lab, as recorded in its state file."""

    def __init__(self, cfg: LabConfig, state: dict):
        self.cfg = cfg
        fields = ("name", "address", "cpus", "index")
        self.laptops = [Laptop(**{k: lap[k] for k in fields}) for lap in state["laptops"]]
        self._holders = {lap["name"]: lap["holder_pid"] for lap in state["laptops"]}
        self.inventory: Path = cfg.inventory
        self.known_hosts: Path = cfg.known_hosts
        self.key: Path = cfg.key
        self.controller = cfg.controller
        self.outsider = (cfg.outsider, cfg.outsider_address)
        self.reused = False  # True when up() found this lab already running (so someone else owns it)

    @classmethod
    def load(cls, cfg: LabConfig) -> Lab | None:
        try:
            return cls(cfg, json.loads(cfg.state_file.read_text()))
        except (OSError, ValueError, KeyError):
            return None

    def laptop(self, which: str | Laptop) -> Laptop:
        name = which.name if isinstance(which, Laptop) else which
        for lap in self.laptops:
            if lap.name == name:
                return lap
        raise KeyError(f"no laptop {name!r} in this lab (laptops: {', '.join(x.name for x in self.laptops)})")

    def nsenter(self, which: str | Laptop) -> list[str]:
        return laptop.nsenter(self._holders[self.laptop(which).name])

    def run(self, which, cmd, *, check=False, timeout=300, **kw) -> subprocess.CompletedProcess:
        """Run a command inside the laptop (its network, mount and UTS namespaces); a string runs in sh -c."""
        return run([*self.nsenter(which), *argv(cmd)], check=check, timeout=timeout, **kw)

    def docker_host(self, which) -> str:
        return f"unix://{laptop.docker_socket(self.cfg, self.laptop(which))}"

    def docker(self, which, *args, check=False, timeout=600, **kw) -> subprocess.CompletedProcess:
        """The docker CLI talking to the laptop's own daemon."""
        return run(["docker", "-H", self.docker_host(which), *args], check=check, timeout=timeout, **kw)

    def ssh(self, which, command: str, *, known_hosts=None, check=False, timeout=60):
        """SSH from the controller, host-key checking ON against the lab's known_hosts (or the one given)."""
        lap = self.laptop(which)
        args = keys.ssh_args(self.cfg, known_hosts)
        return run(["ssh", *args, f"root@{lap.address}", command], check=check, timeout=timeout)

    def run_outside(self, cmd, *, check=False, timeout=60, **kw) -> subprocess.CompletedProcess:
        """Run a command in the outsider namespace (on the lab subnet, not in the inventory)."""
        return run(["ip", "netns", "exec", self.cfg.outsider, *argv(cmd)], check=check, timeout=timeout, **kw)

    def load_image(self, which, image: str) -> float:
        """Copy an image from the host engine into the laptop's; returns seconds spent (0 if present)."""
        from .images import load_image

        return load_image(self, self.laptop(which), image)

    def make_private(self, path: str) -> None:
        """Give every laptop its own copy of the machine's directory `path` (say /etc/ufw after installing
        ufw), so what one laptop writes there the others do not see."""
        for lap in self.laptops:
            laptop.bind_private_copy(self._holders[lap.name], self.cfg, lap, path)

    # --- shaped links (tests/lab/links.py) ---
    def wire(self, which) -> links.Wire:
        lap = self.laptop(which)
        return links.Wire(lap.name, LAPTOP_IFNAME, lap.host_veth)

    def link(self, which) -> str:
        """The laptop's link as tc reports it now: 'unshaped', '300mbit', or each direction if they differ."""
        return links.summary(self.wire(which))

    def shape(self, which, link: str | None) -> None:
        """Shape one laptop's link both ways (`300mbit`, `1gbit/2ms` where the kernel has netem)."""
        name = self.laptop(which).name
        self.apply_links({name: links.parse_link(link or "unshaped", name)})

    def unshape(self, which=None) -> None:
        """Back to unshaped: one laptop's link, or (by default) every laptop's."""
        chosen = self.laptops if which is None else [self.laptop(which)]
        self.apply_links(dict.fromkeys(lap.name for lap in chosen))

    def apply_links(self, plan: dict[str, links.Link | None]) -> None:
        links.apply({self.wire(name): link for name, link in plan.items()})

    @contextlib.contextmanager
    def shaped(self, value: str | dict[str, str]):
        """Links as a LINKS value asks (`50mbit`, `1gbit,1gbit,300mbit`, `home-wifi`), or only the laptops
        named ({"lap2": "50mbit"}), for a while; on leaving, whatever happened inside, every link goes back
        to what tc showed on entering."""
        if isinstance(value, dict):
            plan = {self.laptop(k).name: links.parse_link(v, self.laptop(k).name) for k, v in value.items()}
        else:
            plan = links.parse_links(value, [lap.name for lap in self.laptops])
        before = links.snapshot(self.wire(lap) for lap in self.laptops)
        self.apply_links(plan)
        try:
            yield self
        finally:
            if failed := links.restore(before):
                raise RuntimeError("links could not be put back: " + "; ".join(failed))

    def problems(self) -> list[str]:
        """Why this lab is not healthy; empty when every laptop answers on SSH and Docker."""
        found = []
        if not network.bridge_exists(self.cfg):
            found.append(f"bridge {self.cfg.bridge} missing")
        if not network.forward_rule_present(self.cfg):
            found.append(f"iptables FORWARD rule for {self.cfg.bridge} missing: laptops cannot talk")
        if self.cfg.outsider not in network.lab_namespaces(self.cfg):
            found.append(f"namespace {self.cfg.outsider} missing")
        for lap in self.laptops:
            pid = self._holders[lap.name]
            if not laptop.holder_alive(pid, lap):
                found.append(f"{lap.name}: namespace holder {pid} gone")
                continue
            if not laptop.docker_responds(laptop.docker_socket(self.cfg, lap)):
                found.append(f"{lap.name}: dockerd not answering")
            if not _port_open(lap.address, 22):
                found.append(f"{lap.name}: sshd not answering on {lap.address}:22")
        return found


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def up(cfg: LabConfig) -> Lab:
    """Bring the lab up (cleaning any leftovers first); reuse it when it is already up, healthy and alike."""
    with locked(cfg):
        existing = Lab.load(cfg)
        if existing and not existing.problems() and _same_shape(existing, cfg):
            progress(f"lab already up and healthy ({len(existing.laptops)} laptops): {cfg.inventory}")
            inventory.write(cfg, existing.laptops)  # the same lab; the inventory may have gained settings
            existing.reused = True
            _shape(existing, cfg)
            return existing
        started = time.monotonic()
        system.ensure_packages()
        system.ensure_host_docker()
        progress("cleaning leftovers of any earlier lab")
        teardown(cfg)
        lab = _build(cfg)
        _shape(lab, cfg)
        progress(f"lab up in {time.monotonic() - started:.1f}s; inventory: {cfg.inventory}")
        return lab


def _shape(lab: Lab, cfg: LabConfig) -> None:
    """Make every laptop's link what LINKS asks (unshaped when it asks nothing)."""
    plan = cfg.link_plan
    if any(plan.values()):
        progress("links: " + ", ".join(f"{name} {links.describe(link)}" for name, link in plan.items()))
    lab.apply_links(plan)


def _same_shape(lab: Lab, cfg: LabConfig) -> bool:
    return [(x.name, x.cpus) for x in lab.laptops] == [(x.name, x.cpus) for x in cfg.laptops]


def _build(cfg: LabConfig) -> Lab:
    laptops = cfg.laptops
    cfg.state_dir.mkdir(parents=True)
    created = laptop.mountpoints_needed()
    (cfg.state_dir / CREATED_MOUNTPOINTS).write_text("".join(p + "\n" for p in created))
    for path in created:
        Path(path).mkdir(parents=True)

    progress(f"network: bridge {cfg.bridge} {cfg.controller}/24, {len(laptops)} laptops, {cfg.outsider}")
    network.create_bridge(cfg)
    for lap in laptops:
        network.create_namespace(cfg, lap.name, lap.host_veth, lap.address)
    network.create_namespace(cfg, cfg.outsider, cfg.outsider_veth, cfg.outsider_address)

    progress("keys: controller key pair, laptop host keys, known_hosts")
    hosts = [f"{cfg.controller} controller"] + [f"{lap.address} {lap.name}" for lap in laptops]
    for lap in laptops:
        laptop.prepare_files(cfg, lap, hosts)
    keys.create_keys(cfg, laptops)

    holders = {}
    for lap in laptops:
        progress(f"{lap.name}: {lap.address}, {lap.cpus} CPUs: namespaces, sshd, dockerd")
        laptop.create_cpu_cgroup(cfg, lap)
        holders[lap.name] = laptop.start_holder(cfg, lap)
        for path in COPIED_DIRS:
            if Path(path).is_dir():
                laptop.bind_private_copy(holders[lap.name], cfg, lap, path)
        laptop.start_sshd(holders[lap.name], cfg, lap)
        laptop.start_dockerd(holders[lap.name], cfg, lap)
    progress("waiting for every laptop's Docker engine")
    for lap in laptops:
        laptop.wait_dockerd(cfg, lap)

    inventory.write(cfg, laptops)
    state = {"laptops": [{**lap.__dict__, "holder_pid": holders[lap.name]} for lap in laptops]}
    cfg.state_file.write_text(json.dumps(state, indent=2) + "\n")
    lab = Lab(cfg, state)
    if problems := lab.problems():
        raise RuntimeError("lab came up unhealthy: " + "; ".join(problems))
    return lab


@contextlib.contextmanager
def session(cfg: LabConfig):
    """A lab for a while: a healthy running lab is reused and left up; otherwise one is brought up and
    taken down again on leaving, whatever happened inside."""
    existing = Lab.load(cfg)
    if existing is not None and not existing.problems():
        yield existing
        return
    made = up(cfg)
    try:
        yield made
    finally:
        if not made.reused:
            down(cfg)


def _link_or_why(lab: Lab, lap: Laptop) -> str:
    try:
        return lab.link(lap)
    except (RuntimeError, ValueError) as e:  # a laptop whose namespace is gone; problems() says so
        return f"unknown ({e})"


def down(cfg: LabConfig) -> None:
    with locked(cfg):
        teardown(cfg)
        progress("lab down")


def status(cfg: LabConfig) -> tuple[bool, list[str]]:
    """(healthy, report lines); never changes anything."""
    lab = Lab.load(cfg)
    if lab is None:
        leftover = ", ".join(network.lab_namespaces(cfg))
        return False, ["lab is down" + (f" (leftovers: {leftover}; run lab-down)" if leftover else "")]
    lines = [f"{x.name}  {x.address}  {x.cpus} CPUs  link {_link_or_why(lab, x)}" for x in lab.laptops]
    lines.append(f"{cfg.outsider}  {cfg.outsider_address}  (outside the inventory)")
    lines.append(f"inventory: {cfg.inventory}")
    problems = lab.problems()
    lines += [f"PROBLEM: {p}" for p in problems] or ["healthy"]
    return not problems, lines
