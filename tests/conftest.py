"""Session fixtures shared by every test directory: the lab and the trainer image."""

from __future__ import annotations

import pytest

from tests.lab import LabConfig, session
from tests.lab.base_image import ensure_base_image, ensure_trainer_image
from tests.lab.system import ensure_host_docker, ensure_packages


@pytest.fixture(scope="session")
def lab():
    """The lab (3 laptops). A healthy lab that is already up is reused and left up; otherwise this session
    brings one up and always takes it down at the end, whatever the tests did."""
    with session(LabConfig()) as running:
        yield running


@pytest.fixture(scope="session")
def host_docker():
    """The controller's Docker engine, installed and started if need be."""
    ensure_packages()
    ensure_host_docker()


@pytest.fixture(scope="session")
def base_image(host_docker) -> str:
    """hetero-base:bookworm, built once per machine (cached by its recipe)."""
    ensure_base_image()
    return "hetero-base:bookworm"


@pytest.fixture(scope="session")
def trainer_image(host_docker) -> str:
    """hetero-trainer:cpu in the host engine, built by `make image` from the base image (docker caches it)."""
    return ensure_trainer_image()
