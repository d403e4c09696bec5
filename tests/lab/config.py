"""What a lab is made of: names, addresses, paths and CPU quotas, all derived from one LabConfig."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path

from .links import Link, parse_links

REPO = Path(__file__).resolve().parents[2]

# Three laptops of clearly different speed; more laptops repeat the last quota.
DEFAULT_CPUS = (1.0, 0.6, 0.4)
# Inside every laptop the cluster interface has the name a real laptop's wired interface often has.
LAPTOP_IFNAME = "eth0"
# Host path -> the laptop's own copy (a directory under its state dir), bind-mounted in its mount namespace.
PRIVATE_DIRS = {
    "/run": "run",
    "/var/lib/docker": "docker",
    "/var/lib/hetero-cluster": "hetero-cluster",
    "/tmp": "tmp",
    "/etc/docker": "etc-docker",  # the laptop's daemon.json, kept by `service docker restart` too
    "/var/log": "log",
    "/etc/wireguard": "etc-wireguard",  # the mesh's configuration and private key (roles/mesh)
}
# A laptop's root gets its own .bashrc: the machine's runs `pyenv init` (a rehash) on every SSH login, which
# made each login cost ~2 s and hang for good on a stale pyenv lock left by a killed login.
PRIVATE_FILES = {"/etc/hosts": "hosts", "/root/.bashrc": "bashrc"}
# What a laptop's own processes read (sshd's config and keys, private copies) lives in its private /run,
# so they find it whatever the checkout's path (even under /tmp, which the laptop replaces).
LAPTOP_SIDE = "/run/hetero-lab"
# Made private when the machine has them at lab-up, each laptop starting from a copy of the machine's:
# a firewall's stored rules, so every laptop keeps its own. Later: Lab.make_private(path).
COPIED_DIRS = ("/etc/ufw",)


@dataclasses.dataclass(frozen=True)
class Laptop:
    name: str
    address: str
    cpus: float
    index: int

    @property
    def host_veth(self) -> str:
        # Interface names are limited to 15 characters.
        return f"v-{self.name}"[:15]


@dataclasses.dataclass(frozen=True)
class LabConfig:
    """One lab. The default is THE lab (`make lab-up`); tests build a second, tiny one with other names."""

    n: int = 3
    cpus: tuple[float, ...] = DEFAULT_CPUS
    prefix: str = "lap"  # laptops are <prefix>1..<prefix>N, and so are their network namespaces
    subnet: str = "10.77.0"  # a /24; the controller is .1, laptops .11.., the outsider .99
    bridge: str = "hlab0"
    outsider: str = "lab-out"
    cgroup: str = "hetero-lab"  # cgroup v1 directory holding one cpu cgroup per laptop
    state_dir: Path = REPO / "build" / "lab"
    links: str = ""  # LINKS: a profile or links per laptop (tests/lab/links.py); empty leaves them unshaped

    def __post_init__(self):
        if not 1 <= self.n <= 80:
            raise ValueError(f"number of laptops n={self.n} must be between 1 and 80")
        if any(c <= 0 for c in self.cpus) or not self.cpus:
            raise ValueError(f"cpus={self.cpus}: every CPU quota must be a positive number, e.g. 1.0,0.6,0.4")
        for path in self.shared_paths:
            if hidden := [t for t in PRIVATE_DIRS if Path(t).resolve().is_relative_to(path)]:
                raise ValueError(
                    f"the lab cannot keep its files in {path}: every laptop has its own {hidden[0]}, which"
                    " would hide them from it; put the checkout (or state_dir) in a directory of its own"
                )
        self.link_plan  # noqa: B018 - a LINKS value the lab cannot apply is refused before anything is made

    @classmethod
    def beside_the_main_lab(cls, name: str, prefix: str, subnet: str, cpus: tuple[float, ...]) -> LabConfig:
        """A small lab of a test folder's own, up at the same time as the main one: other laptop names,
        another subnet, its own bridge, cgroup and state directory (under /tmp, as a checkout there would
        have it: each laptop has its own /tmp). One laptop per CPU quota given."""
        return cls(
            n=len(cpus),
            cpus=cpus,
            prefix=prefix,
            subnet=subnet,
            bridge=f"hlab{prefix[0]}0",
            outsider=f"{prefix}-out",
            cgroup=f"hetero-lab-{name}",
            state_dir=Path(tempfile.gettempdir()) / f"hetero-lab-{name}",
        )

    @property
    def controller(self) -> str:
        return f"{self.subnet}.1"

    @property
    def outsider_address(self) -> str:
        return f"{self.subnet}.99"

    @property
    def outsider_veth(self) -> str:
        return f"v-{self.outsider}"[:15]

    @property
    def laptops(self) -> list[Laptop]:
        return [
            Laptop(f"{self.prefix}{i}", f"{self.subnet}.{10 + i}", self.cpus[min(i, len(self.cpus)) - 1], i)
            for i in range(1, self.n + 1)
        ]

    @property
    def link_plan(self) -> dict[str, Link | None]:
        """Laptop name -> its link as LINKS asks (None: unshaped); a one-line ValueError when it cannot be."""
        return parse_links(self.links, [lap.name for lap in self.laptops])

    @property
    def shared_paths(self) -> list[Path]:
        """What every laptop sees at the same path as the machine, wherever it lives: the checkout and the
        lab's state directory (so the lab behaves alike with the checkout under /work or under /tmp)."""
        paths = list(dict.fromkeys([REPO, self.state_dir.resolve()]))
        return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]

    def brought_back(self) -> dict[str, list[Path]]:
        """Private directory -> the shared paths under it, which the laptop gets back over its own copy."""
        found = {
            target: [p for p in self.shared_paths if p.is_relative_to(Path(target).resolve())]
            for target in PRIVATE_DIRS
        }
        return {target: paths for target, paths in found.items() if paths}

    def is_lab_netns(self, name: str) -> bool:
        """True for every namespace this lab may have made, with any number of laptops (crash leftovers)."""
        return name == self.outsider or re.fullmatch(rf"{re.escape(self.prefix)}\d+", name) is not None

    # --- files under the state directory ---
    @property
    def key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory.yml"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def laptop_dir(self, laptop: Laptop) -> Path:
        return self.state_dir / laptop.name

    def laptop_side(self, laptop: Laptop) -> Path:
        """LAPTOP_SIDE as seen from the controller."""
        return self.laptop_dir(laptop) / "run" / Path(LAPTOP_SIDE).relative_to("/run")


def parse_cpus(text: str) -> tuple[float, ...]:
    try:
        cpus = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--cpus {text!r}: give comma-separated CPU counts, e.g. 1.0,0.6,0.4") from None
    if not cpus:
        raise ValueError(f"--cpus {text!r}: give comma-separated CPU counts, e.g. 1.0,0.6,0.4")
    return cpus
