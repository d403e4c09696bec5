"""The faults tests' own small lab: two laptops beside the main lab (other names, another subnet), so what
these tests break or compare is never disturbed by, and never disturbs, other tests using the main lab."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.lab import LabConfig, session

FAULT_LAB = LabConfig(
    n=2,
    cpus=(1.0, 0.6),
    prefix="fl",
    subnet="10.77.2",
    bridge="hlabf0",
    outsider="fl-out",
    cgroup="hetero-lab-faults",
    state_dir=Path(tempfile.gettempdir()) / "hetero-lab-faults",
)


@pytest.fixture(scope="session")
def fault_lab():
    """Two laptops fl1, fl2 (10.77.2.11-12); reused when already up and healthy, else made and removed."""
    with session(FAULT_LAB) as running:
        yield running
