"""The data step (playbooks/data.yml) on this machine alone (inventory/local.yml: ansible_connection local,
so synchronize runs rsync locally): unset it does nothing; a directory is staged, a second run changes
nothing, a changed file is sent again; a file:// URL is fetched once and unpacked; bad input is one line and
nothing is written. The same over SSH to three laptops: tests/lab/test_data.py."""

from __future__ import annotations

import hashlib
import tarfile

import pytest

from tests.ansible.playbook import REPO, run_playbook
from tests.lab import system

LOCAL = REPO / "inventory" / "local.yml"
HOST = "localhost"
SEND = "data : Send what differs into hetero_data_dir"


@pytest.fixture(scope="module", autouse=True)
def _rsync():
    """synchronize runs rsync, which a fresh machine may lack: the lab's package list installs it."""
    system.ensure_packages()


def _files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "source"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    return root


def _data(tmp_path, name, **settings):
    dest = tmp_path / "hosts" / name / "data"
    extra = {"hetero_data_dir": str(dest), "hetero_data_cache_dir": str(tmp_path / "cache"), **settings}
    return dest, run_playbook("playbooks/data.yml", LOCAL, tmp_path=tmp_path, extra_vars=extra)


def _failure(result) -> str:
    (task, host), *_ = result.failures()
    return result.result(task, host)["msg"]


def test_unset_the_data_step_does_nothing(tmp_path):
    result = run_playbook("playbooks/data.yml", LOCAL, tmp_path=tmp_path)
    assert result.rc == 0, result.stdout[-3000:]
    assert result.changed(HOST) == 0
    assert {t.status for t in result.tasks} == {"skipped"}


def test_a_directory_is_staged_then_changes_nothing_and_a_changed_file_is_sent(tmp_path, source):
    dest, first = _data(tmp_path, "one", hetero_data_source=str(source))
    assert first.rc == 0, first.stdout[-3000:]
    assert _files(dest) == _files(source)
    assert "localhost: sent 2 of 2 file(s)" in first.stdout

    _, again = _data(tmp_path, "one", hetero_data_source=str(source))
    assert again.rc == 0 and again.changed(HOST) == 0, again.changed_tasks()
    assert "already has all 2 file(s)" in again.stdout

    (source / "a.txt").write_text("ALPHA\n")  # same size: the checksum tells
    _, changed = _data(tmp_path, "one", hetero_data_source=str(source))
    assert changed.rc == 0 and [t for t, _ in changed.changed_tasks()] == [SEND + f" ({dest})"]
    assert (dest / "a.txt").read_text() == "ALPHA\n"
    assert "localhost: sent 1 of 2 file(s)" in changed.stdout


def test_a_url_is_fetched_once_unpacked_and_sent(tmp_path, source):
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="myset")
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    url = {"hetero_data_url": archive.as_uri(), "hetero_data_sha256": sha}
    dest, first = _data(tmp_path, "url", **url)
    assert first.rc == 0, first.stdout[-3000:]
    assert _files(dest / "myset") == _files(source)

    _, again = _data(tmp_path, "url", **url)
    assert again.rc == 0 and again.changed(HOST) == 0, again.changed_tasks()


def test_a_url_whose_sha256_differs_is_one_line_and_nothing_is_written(tmp_path, source):
    plain = source / "a.txt"
    dest, result = _data(tmp_path, "bad", hetero_data_url=plain.as_uri(), hetero_data_sha256="0" * 64)
    assert result.rc != 0
    actual = hashlib.sha256(plain.read_bytes()).hexdigest()
    message = _failure(result)
    assert message.startswith(f"hetero_data_sha256: {plain.as_uri()} has sha256 {actual}, not {'0' * 64};")
    assert "\n" not in message
    assert not dest.parent.exists()
    assert not (tmp_path / "cache" / ("0" * 64)).exists()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"hetero_data_source": "/nonexistent/set"}, "hetero_data_source: /nonexistent/set does not exist"),
        ({"hetero_data_source": "set"}, "hetero_data_source: must be an absolute path on the controller"),
        ({"hetero_data_url": "file:///x.tar"}, "hetero_data_url is set without hetero_data_sha256"),
        ({"hetero_data_url": "file:///x.tar", "hetero_data_sha256": "abc"}, "hetero_data_sha256: must be 64"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, settings, expected):
    dest, result = _data(tmp_path, "refused", **settings)
    assert result.rc != 0
    message = _failure(result)
    assert message.startswith(expected) and "\n" not in message, message
    assert result.changed(HOST) == 0
    assert not dest.parent.exists()


def test_preflight_says_what_each_host_lacks_and_changes_nothing(tmp_path, source):
    dest = tmp_path / "hosts" / "preflight" / "data"
    extra = {"hetero_data_source": str(source), "hetero_data_dir": str(dest)}
    result = run_playbook("playbooks/preflight.yml", LOCAL, tmp_path=tmp_path, extra_vars=extra)
    assert result.rc == 0, result.stdout[-3000:]
    assert result.changed(HOST) == 0
    said = result.result("data : Say what each host will receive", HOST)["msg"]
    assert said.startswith(f"localhost: data {source} (2 file(s), 16.4 kB): 16.4 kB to send into {dest}, ")
    assert not dest.parent.exists()

    missing = {**extra, "hetero_data_source": str(tmp_path / "nowhere")}
    refused = run_playbook("playbooks/preflight.yml", LOCAL, tmp_path=tmp_path, extra_vars=missing)
    assert refused.rc != 0
    assert _failure(refused).startswith(f"hetero_data_source: {tmp_path / 'nowhere'} does not exist")
