"""The integration tests' own small lab: two laptops beside the main lab (other names, another subnet), so
the Swarm and registry runs (swarm init/leave, a registry on the master, ufw switched on) never disturb, and
are never disturbed by, other tests using the main lab."""

from __future__ import annotations

import pytest

from tests.lab import LabConfig, session

from .ufw import ufw_on_the_laptops

INT_LAB = LabConfig.beside_the_main_lab("int", prefix="il", subnet="10.77.3", cpus=(1.0, 0.6))


@pytest.fixture(scope="session")
def int_lab():
    """Two laptops il1, il2 (10.77.3.11-12); reused when already up and healthy, else made and removed."""
    with session(INT_LAB) as running:
        yield running


@pytest.fixture
def ufw(int_lab):
    """ufw on both laptops of the integration lab for one test, put back as it was afterwards."""
    with ufw_on_the_laptops(int_lab):
        yield
