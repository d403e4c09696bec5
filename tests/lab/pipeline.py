"""Run the delivery playbooks (site.yml, distribute, launch, stop, status, collect) against the lab the way a
user does — ansible-playbook with the repository's ansible.cfg, real SSH, through the project's one runner
(hetero_tui.services.runner) — and read back, per play, what changed (PlaybookResult). Used by the
end-to-end tests (tests/lab/test_site.py, test_distribute.py) and bench/distribute.py."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from hetero_tui.services.playbook_result import PlaybookResult
from hetero_tui.services.runner import run_playbook as run

from tests.lab.config import LabConfig
from tests.lab.lab import session

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = "/var/lib/hetero-cluster/experiments"

# A run of a few seconds: 6 steps of 24 samples over 3 ranks, snapshots every 3 steps.
TINY_TRAINING = {
    "hetero_max_steps": 6,
    "hetero_save_every": 3,
    "hetero_global_batch_size": 24,
    "hetero_batch_size": 8,
    "hetero_dataset_size": 480,
    "hetero_log_every": 1,
    "hetero_trainer_wait": True,
    "hetero_trainer_wait_timeout": 900,
}


# A lab of the delivery tests' own (other names, another subnet), for a machine where other sessions use
# the shared lab at the same time (their containers, their launches): HETERO_DELIVERY_OWN_LAB=1.
OWN_LAB = LabConfig(
    prefix="dlv",
    subnet="10.78.0",
    bridge="hlab-dlv",
    outsider="dlv-out",
    cgroup="hetero-dlv",
    state_dir=REPO / "build" / "lab-delivery",
)


@contextlib.contextmanager
def delivery_lab(shared):
    """The shared lab (the `lab` fixture), or with HETERO_DELIVERY_OWN_LAB=1 a lab of our own, brought up
    for the tests and taken down after, unless it was already running."""
    if os.environ.get("HETERO_DELIVERY_OWN_LAB") != "1":
        yield shared
        return
    with session(OWN_LAB) as own:
        yield own


def run_playbook(
    playbook: str, inventory: Path, data_dir: Path, extra_vars: dict | None = None, repo: Path = REPO
) -> PlaybookResult:
    """ansible-playbook through the project's one runner, artifacts kept in data_dir; `repo` is the checkout
    whose playbooks, roles and ansible.cfg run."""
    return run(playbook, inventory, extravars=extra_vars, repo_root=repo, artifacts=data_dir, timeout=1800)


# Not copied into a snapshot: the venv, git, outputs of earlier runs; of build/ only the wheelhouse is kept.
SNAPSHOT_SKIP = {".venv", ".git", "experiments", "__pycache__", ".pytest_cache", ".ruff_cache"}


def _snapshot_ignore(directory: str, names: list[str]) -> list[str]:
    if Path(directory) == REPO / "build":
        return [n for n in names if n != "wheelhouse"]
    return [n for n in names if n in SNAPSHOT_SKIP]


def snapshot_repo(dest: Path) -> Path:
    """A frozen copy of the working tree (a real copy, about 250 MB, mostly the wheelhouse). Runs from it
    build the image from these exact sources, whatever other sessions on this machine edit meanwhile."""
    shutil.copytree(REPO, dest, symlinks=True, ignore=_snapshot_ignore)
    return dest


def tx_bytes(lab, laptop) -> int:
    """Bytes the controller has sent to a laptop so far (the laptop's veth on the controller side)."""
    return int(Path(f"/sys/class/net/{lab.laptop(laptop).host_veth}/statistics/tx_bytes").read_text())


def controller_image_id(variant: str = "cpu", repo: Path = REPO) -> str:
    """The image id distribute.yml last built from `repo` (its --iidfile), else the controller's tag."""
    built = repo / "build" / "images" / f".built-{variant}"
    if built.exists():
        return built.read_text().strip()
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", f"hetero-trainer:{variant}"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def laptop_image_id(lab, laptop, variant: str = "cpu") -> str:
    out = lab.docker(laptop, "image", "inspect", "--format", "{{.Id}}", f"hetero-trainer:{variant}")
    return out.stdout.strip() if out.returncode == 0 else ""


def rank_containers(lab, laptop) -> dict[str, tuple[str, int]]:
    """{name: (state, exit code)} of the laptop's hetero-rank-* containers, straight from its Docker."""
    out = lab.docker(
        laptop, "ps", "--all", "--filter", "name=hetero-rank-", "--format", "{{.Names}}", check=True
    ).stdout.split()
    found = {}
    for name in out:
        state = lab.docker(
            laptop, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name, check=True
        )
        status, code = state.stdout.split()
        found[name] = (status, int(code))
    return found


def status_table(stdout: str) -> dict[str, str]:
    """status.yml's table as {host: the line}, from the playbook's output."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"^\s+(\S+)\s+(up \S+|DOWN)\s+(.*)$", line)
        if match:
            rows[match.group(1)] = line.strip()
    return rows
