"""Transport faults caught before anything is sent or started: a disk too small for the image tarball (a tmpfs
mounted over /var/lib/hetero-cluster/images inside one laptop) stops preflight naming the host and the space
needed; a laptop that cannot be reached stops the run naming it, before any rank starts anywhere."""

from __future__ import annotations

import re

import pytest

from tests.faults.catalogue import Case
from tests.faults.laptop_state import laptop_state
from tests.faults.test_bad_input import failures, run_site, write_case

pytestmark = pytest.mark.lab

IMAGES = "/var/lib/hetero-cluster/images"


@pytest.fixture
def small_images_disk(fault_lab):
    """A 64 MB tmpfs over the second laptop's images directory (its own mount namespace only)."""
    lap = fault_lab.laptops[1].name
    fault_lab.run(lap, ["mkdir", "-p", IMAGES], check=True)
    fault_lab.run(lap, ["mount", "-t", "tmpfs", "-o", "size=64m", "hetero-small", IMAGES], check=True)
    try:
        yield lap
    finally:
        fault_lab.run(lap, ["umount", IMAGES], check=True)


def test_a_disk_too_small_for_the_tarball_stops_preflight_with_the_space_needed(
    fault_lab, small_images_disk, tmp_path
):
    inventory = write_case(Case("small-disk", ()), fault_lab, tmp_path)
    before = laptop_state(fault_lab)

    result = run_site(inventory, {})

    assert result.returncode != 0
    (play, message), *_ = failures(result.stdout)
    assert play.startswith("Preflight"), (play, message)
    assert re.search(
        rf"host {small_images_disk}: \d+ MB free under {IMAGES} but the cpu image needs 3000 MB", message
    ), message
    assert "PLAY [Provision" not in result.stdout
    assert laptop_state(fault_lab) == before


def test_a_laptop_unreachable_at_launch_is_named_and_no_rank_starts(fault_lab, tmp_path):
    """The second laptop's link is down when the user launches: launch refuses naming it, and no rank
    container starts on the first laptop (no partial world waiting for a peer that never comes)."""
    lost = fault_lab.laptops[1].name
    inventory = write_case(Case("unreachable", ()), fault_lab, tmp_path)
    before = laptop_state(fault_lab)
    fault_lab.run(lost, ["ip", "link", "set", "eth0", "down"], check=True)
    try:
        result = run_site(inventory, {}, playbook="playbooks/launch.yml")
    finally:
        fault_lab.run(lost, ["ip", "link", "set", "eth0", "up"], check=True)

    assert result.returncode != 0
    assert re.search(rf"fatal: \[{lost}\]: UNREACHABLE!", result.stdout), result.stdout[-3000:]
    assert "Start rank 0" not in result.stdout, result.stdout[-3000:]
    assert laptop_state(fault_lab) == before
