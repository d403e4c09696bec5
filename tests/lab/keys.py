"""SSH trust for the lab: the controller's key pair, each laptop's host key, and a known_hosts recording them,
so clients keep host-key checking ON."""

from __future__ import annotations

from .config import LabConfig, Laptop
from .shell import run


def keygen(path, comment: str) -> str:
    """Create an ed25519 key pair at `path`; returns the public key line."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path.with_name(path.name + ".pub").read_text().strip()


def create_keys(cfg: LabConfig, laptops: list[Laptop]) -> None:
    public = keygen(cfg.key, "hetero-lab-controller")
    lines = []
    for laptop in laptops:
        auth = cfg.laptop_side(laptop) / "authorized_keys"
        auth.write_text(public + "\n")
        auth.chmod(0o600)
        host_key = keygen(cfg.laptop_side(laptop) / "ssh_host_ed25519_key", laptop.name)
        key_type, key = host_key.split()[:2]
        lines.append(f"{laptop.name},{laptop.address} {key_type} {key}")
    cfg.known_hosts.write_text("\n".join(lines) + "\n")


def ssh_args(cfg: LabConfig, known_hosts=None) -> list[str]:
    return [
        "-i",
        str(cfg.key),
        "-o",
        f"UserKnownHostsFile={known_hosts or cfg.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
    ]
