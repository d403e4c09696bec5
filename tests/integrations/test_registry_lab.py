"""hetero_image_transport: registry on the lab: a registry on the master (its image shipped as a tarball),
pushed from the controller, pulled by the laptops; the lab's daemon.json settings are kept (merged)."""

from __future__ import annotations

import json

import pytest

from tests.lab.pipeline import run_playbook, snapshot_repo

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1800)]

# A name of its own: the test removes it from a laptop without touching images other tests use.
IMAGE = "hetero-trainer-regtest"
REGISTRY_MODE = {"hetero_image_transport": "registry", "hetero_image_name": IMAGE}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The working tree frozen for this module, so the image does not change between two runs."""
    return snapshot_repo(tmp_path_factory.mktemp("checkout") / "repo")


@pytest.fixture(autouse=True)
def no_registry_left(int_lab):
    """Other tests expect only their own containers on the laptops: the registry goes when this test ends."""
    yield
    int_lab.docker(int_lab.laptops[0].name, "rm", "--force", "hetero-registry")
    int_lab.run(int_lab.laptops[0].name, "rm -rf /var/lib/hetero-cluster/registry")


def distribute(lab, checkout, tmp_path, name):
    return run_playbook(
        "playbooks/distribute.yml", lab.inventory, tmp_path / name, REGISTRY_MODE, repo=checkout
    )


def image_id(lab, laptop: str) -> str:
    out = lab.docker(laptop, "image", "inspect", "--format", "{{.Id}}", f"{IMAGE}:cpu")
    return out.stdout.strip() if out.returncode == 0 else ""


def test_registry_distribution_pulls_on_hosts_and_keeps_daemon_settings(
    int_lab, base_image, checkout, tmp_path
):
    lab = int_lab
    master, victim = lab.laptops[0], lab.laptops[-1].name  # the laptop that loses its image
    first = distribute(lab, checkout, tmp_path, "first")
    assert first.rc == 0, first.stdout[-3000:]
    lab.docker(victim, "rmi", "--force", f"{IMAGE}:cpu", check=True)

    run = distribute(lab, checkout, tmp_path, "again")

    assert run.rc == 0, run.stdout[-3000:]
    ids = {lap.name: image_id(lab, lap.name) for lap in lab.laptops}
    assert len(set(ids.values())) == 1 and ids[victim].startswith("sha256:"), ids
    # The laptop that lacked the image pulled it; the others had it and did nothing; no tarball travelled.
    assert run.statuses(f"registry : Pull {master.address}:5000/{IMAGE}:cpu", victim) == ["ok"]
    for lap in lab.laptops:
        assert run.statuses("image : Copy the tarball", lap.name) == []
        if lap.name != victim:
            assert run.changed_in("Distribute").get(lap.name, 0) == 0
    # The registry runs on the master only.
    running = {
        lap.name: lab.docker(lap.name, "ps", "-q", "--filter", "name=^hetero-registry$").stdout
        for lap in lab.laptops
    }
    assert [name for name, out in running.items() if out.strip()] == [master.name]
    # daemon.json was merged: the lab's own settings are still there beside insecure-registries.
    for lap in lab.laptops:
        settings = json.loads(lab.run(lap.name, "cat /etc/docker/daemon.json", check=True).stdout)
        assert settings["insecure-registries"] == [f"{master.address}:5000"]
        assert settings["bridge"] == "none" and settings["iptables"] is False
        assert settings["cgroup-parent"].endswith(lap.name)
