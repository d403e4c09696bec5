"""The data step (playbooks/data.yml) over real SSH to the lab's laptops: a directory of the controller is
staged into hetero_data_dir on every laptop with the same sha256s; a second run changes nothing; a changed
file is sent again to every laptop; a file:// URL is fetched once and sent on, and one whose sha256 is wrong
stops in one line with nothing written on any laptop; a laptop without room for it stops the step, naming
it, before anything is sent. Each laptop has its own /tmp, so each test's hetero_data_dir is its own."""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import uuid

import pytest

from tests.lab.pipeline import delivery_lab, run_playbook

pytestmark = pytest.mark.lab
SEND = "data : Send what differs into hetero_data_dir"


@pytest.fixture(scope="module")
def lab(lab):
    """The shared lab, or our own one (HETERO_DELIVERY_OWN_LAB=1; see tests/lab/pipeline.py)."""
    with delivery_lab(lab) as chosen:
        yield chosen


@pytest.fixture
def on_laptops(lab):
    """A directory of this test's own on every laptop (under its private /tmp), removed afterwards."""
    top = f"/tmp/hetero-data-test-{uuid.uuid4().hex[:8]}"
    yield top
    for lap in lab.laptops:
        lab.run(lap.name, f"umount {top}/small 2>/dev/null; rm -rf {top}")


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "source"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "weights.bin").write_bytes(bytes(range(256)) * 512)
    (root / "sub" / "c.txt").write_text("gamma\n")
    return root


def _sums_here(root) -> dict[str, str]:
    return {
        f"./{p.relative_to(root)}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def _sums_on(lab, laptop, directory) -> dict[str, str]:
    out = lab.run(laptop, f"cd {directory} && find . -type f -exec sha256sum {{}} +", check=True).stdout
    return {name: digest for digest, name in (line.split(maxsplit=1) for line in out.splitlines())}


def _data(lab, tmp_path, run, **settings):
    extra = {"hetero_data_cache_dir": str(tmp_path / "cache"), **settings}
    return run_playbook("playbooks/data.yml", lab.inventory, tmp_path / run, extra)


def test_a_directory_reaches_every_laptop_once_and_a_changed_file_again(lab, tmp_path, source, on_laptops):
    names = [lap.name for lap in lab.laptops]
    settings = {"hetero_data_source": str(source), "hetero_data_dir": f"{on_laptops}/data"}

    first = _data(lab, tmp_path, "first", **settings)
    assert first.rc == 0, first.stdout[-3000:]
    for name in names:
        assert _sums_on(lab, name, f"{on_laptops}/data") == _sums_here(source), name
        assert f"{name}: sent 3 of 3 file(s)" in first.stdout

    again = _data(lab, tmp_path, "again", **settings)
    assert again.rc == 0, again.stdout[-3000:]
    assert {name: again.changed(name) for name in names} == dict.fromkeys(names, 0), again.changed_tasks()

    (source / "sub" / "c.txt").write_text("GAMMA\n")  # same size and a new time: sent again
    changed = _data(lab, tmp_path, "changed", **settings)
    assert changed.rc == 0, changed.stdout[-3000:]
    assert sorted(host for task, host in changed.changed_tasks() if task.startswith(SEND)) == sorted(names)
    for name in names:
        assert lab.run(name, f"cat {on_laptops}/data/sub/c.txt", check=True).stdout == "GAMMA\n"
        assert f"{name}: sent 1 of 3 file(s)" in changed.stdout


def test_a_partial_file_left_by_an_interrupted_run_is_resumed_not_sent_again(lab, tmp_path, on_laptops):
    """An interrupted transfer leaves the received part in .rsync-partial (rsync --partial-dir); the next
    run uses it as the basis and sends only the rest. Here the part is put there by hand, on every laptop."""
    big = tmp_path / "big"
    big.mkdir()
    blob = os.urandom(4_000_000)
    (big / "blob.bin").write_bytes(blob)
    data_dir = f"{on_laptops}/resume"
    for lap in lab.laptops:
        lab.run(lap.name, f"mkdir -p {data_dir}/.rsync-partial && cat > {data_dir}/.rsync-partial/blob.bin",
                input=blob[:3_000_000], check=True)  # fmt: skip

    result = _data(lab, tmp_path, "resume", hetero_data_source=str(big), hetero_data_dir=data_dir)
    assert result.rc == 0, result.stdout[-3000:]
    for lap in lab.laptops:
        out = "\n".join(result.result(SEND, lap.name)["stdout_lines"])
        matched = int(re.search(r"Matched data: ([\d,]+) bytes", out).group(1).replace(",", ""))
        assert matched >= 2_900_000, out  # the 3 MB already there were not sent again
        assert _sums_on(lab, lap.name, data_dir) == _sums_here(big)
        assert lab.run(lap.name, f"test -e {data_dir}/.rsync-partial").returncode != 0


def test_a_url_is_sent_on_and_a_wrong_sha256_writes_nothing(lab, tmp_path, source, on_laptops):
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="myset")
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()

    right = _data(lab, tmp_path, "right", hetero_data_url=archive.as_uri(), hetero_data_sha256=sha,
                  hetero_data_dir=f"{on_laptops}/right")  # fmt: skip
    assert right.rc == 0, right.stdout[-3000:]
    for lap in lab.laptops:
        assert _sums_on(lab, lap.name, f"{on_laptops}/right/myset") == _sums_here(source)

    wrong = _data(lab, tmp_path, "wrong", hetero_data_url=archive.as_uri(), hetero_data_sha256="f" * 64,
                  hetero_data_dir=f"{on_laptops}/wrong")  # fmt: skip
    assert wrong.rc != 0
    [(task, host)] = wrong.failures()
    message = wrong.result(task, host)["msg"]
    assert message.startswith(f"hetero_data_sha256: {archive.as_uri()} has sha256 {sha}, not {'f' * 64};")
    assert "\n" not in message
    for lap in lab.laptops:
        assert lab.run(lap.name, f"test -e {on_laptops}/wrong").returncode != 0, lap.name


def test_a_laptop_without_room_stops_the_step_before_anything_is_sent(lab, tmp_path, on_laptops):
    big = tmp_path / "big"
    big.mkdir()
    (big / "blob.bin").write_bytes(b"\0" * 3_000_000)
    small = lab.laptops[1].name
    lab.run(
        small,
        f"mkdir -p {on_laptops}/small && mount -t tmpfs -o size=1m tmpfs {on_laptops}/small",
        check=True,
    )

    result = _data(
        lab, tmp_path, "room", hetero_data_source=str(big), hetero_data_dir=f"{on_laptops}/small/data"
    )
    assert result.rc != 0
    [(task, host)] = result.failures()
    assert (task, host) == ("data : Stop when a host has no room for the data", small)
    message = result.result(task, host)["msg"]
    assert message.startswith(f"host {small}: the data step would send 3.0 MB into hetero_data_dir")
    assert "free some space on that filesystem" in message
    for lap in lab.laptops:
        assert lab.run(lap.name, f"test -e {on_laptops}/small/data").returncode != 0, lap.name
