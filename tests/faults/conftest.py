"""The faults tests' own small lab: two laptops beside the main lab (other names, another subnet), so what
these tests break or compare is never disturbed by, and never disturbs, other tests using the main lab."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.faults.rank_faults import REPO
from tests.lab import LabConfig, session

FAULT_LAB = LabConfig.beside_the_main_lab("faults", prefix="fl", subnet="10.77.2", cpus=(1.0, 0.6))


@pytest.fixture(scope="session")
def fault_lab():
    """Two laptops fl1, fl2 (10.77.2.11-12); reused when already up and healthy, else made and removed."""
    with session(FAULT_LAB) as running:
        yield running


@pytest.fixture(scope="module")
def cluster(fault_lab, trainer_image, tmp_path_factory):
    """The fault lab with the trainer image loaded, and an inventory beside a copy of the settings."""
    for lap in fault_lab.laptops:
        fault_lab.load_image(lap.name, trainer_image)
    dest = tmp_path_factory.mktemp("fault-cluster")
    (dest / "group_vars").mkdir()
    (dest / "group_vars" / "all.yml").write_text((REPO / "inventory" / "group_vars" / "all.yml").read_text())
    inventory = dest / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(yaml.safe_load(Path(fault_lab.inventory).read_text()), sort_keys=False)
    )
    return fault_lab, inventory
