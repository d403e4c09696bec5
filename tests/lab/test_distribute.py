"""Image distribution edge cases on the lab laptops: a damaged tarball on a host is replaced and the image
loads; a tarball whose sha256 differs from the one recorded on the controller is never loaded."""

from __future__ import annotations

import shutil

import pytest

from tests.lab.pipeline import controller_image_id, delivery_lab, laptop_image_id, run_playbook, snapshot_repo

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(lab):
    """The shared lab, or our own one (HETERO_DELIVERY_OWN_LAB=1; see tests/lab/pipeline.py)."""
    with delivery_lab(lab) as chosen:
        yield chosen


LANDING = "/var/lib/hetero-cluster/images"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The working tree frozen for this module, so the image does not change between two runs."""
    return snapshot_repo(tmp_path_factory.mktemp("checkout") / "repo")


def victim(lab):
    """The laptop whose image goes missing: the last (slowest) one."""
    return lab.laptops[-1].name


def distribute(lab, checkout, tmp_path, name):
    return run_playbook("playbooks/distribute.yml", lab.inventory, tmp_path / name, repo=checkout)


def controller_tarball(checkout):
    tarballs = sorted((checkout / "build" / "images").glob("hetero-trainer-cpu-*.tar.zst"))
    assert len(tarballs) == 1, tarballs
    return tarballs[0]


def test_a_damaged_tarball_left_on_a_host_is_replaced_and_the_image_loads(
    lab, base_image, checkout, tmp_path
):
    assert distribute(lab, checkout, tmp_path, "first").rc == 0
    lab.docker(victim(lab), "rmi", "--force", "hetero-trainer:cpu", check=True)
    # A transfer cut short earlier left a truncated file under the very name the next copy uses.
    image_hex = controller_image_id(repo=checkout).removeprefix("sha256:")
    remote = f"{LANDING}/hetero-trainer-cpu-{image_hex}.tar.zst"
    lab.run(victim(lab), f"mkdir -p {LANDING} && head -c 1000000 /dev/urandom > {remote}", check=True)

    run = distribute(lab, checkout, tmp_path, "again")

    assert run.rc == 0, run.stdout[-3000:]
    assert laptop_image_id(lab, victim(lab)) == controller_image_id(repo=checkout)
    assert lab.run(victim(lab), f"ls -A {LANDING}").stdout.strip() == ""
    others = [lap.name for lap in lab.laptops if lap.name != victim(lab)]
    for host in others:
        assert run.statuses("image : Copy the tarball", host) == ["skipped"]
        assert run.changed_in("Distribute").get(host, 0) == 0


def test_a_tarball_that_does_not_match_its_recorded_sha256_is_never_loaded(
    lab, base_image, checkout, tmp_path
):
    assert distribute(lab, checkout, tmp_path, "first").rc == 0
    tarball = controller_tarball(checkout)
    good = shutil.copy2(tarball, tmp_path / tarball.name)  # put back afterwards: no second docker save
    lab.docker(victim(lab), "rmi", "--force", "hetero-trainer:cpu", check=True)
    try:
        with tarball.open("ab") as damaged:  # the controller's copy rots after its sha256 was recorded
            damaged.write(b"bit rot")

        run = distribute(lab, checkout, tmp_path, "damaged")

        assert run.rc != 0
        assert "not loaded" in run.stdout, run.stdout[-3000:]
        assert laptop_image_id(lab, victim(lab)) == ""
        assert lab.run(victim(lab), f"ls -A {LANDING}").stdout.strip() == ""
    finally:
        # The sound tarball back under its recorded sha256: the next run sends it, the laptop loads it.
        shutil.move(good, tarball)
        restored = distribute(lab, checkout, tmp_path, "restored")
    assert restored.rc == 0, restored.stdout[-3000:]
    assert laptop_image_id(lab, victim(lab)) == controller_image_id(repo=checkout)
