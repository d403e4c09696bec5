"""The data step's filters (roles/data/filter_plugins/data_plan.py) as plain Python: no Ansible run."""

from __future__ import annotations

import importlib.util

import pytest

from tests.ansible.playbook import REPO

_spec = importlib.util.spec_from_file_location(
    "hetero_data_plan_filter", REPO / "roles" / "data" / "filter_plugins" / "data_plan.py"
)
data_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(data_plan)

WHERE = "inventory/group_vars/all.yml (or the -e you passed)"
SHA = "ab" * 32
# What rsync 3.2 prints for --stats (digits grouped in the C locale).
STATS = """\
Number of files: 1,204 (reg: 1,200, dir: 4)
Number of created files: 3 (reg: 3)
Number of deleted files: 0
Number of regular files transferred: 3
Total file size: 12,345,678 bytes
Total transferred file size: 1,048,576 bytes
Literal data: 1,048,576 bytes
"""


@pytest.fixture
def source(tmp_path):
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.bin").write_bytes(b"x" * 10)
    (tmp_path / "data" / "sub" / "b.bin").write_bytes(b"y" * 5)
    return tmp_path / "data"


def test_good_settings_and_unset_ones_pass(source):
    assert data_plan.data_error(None, None, None) == ""
    assert data_plan.data_error("", "", "") == ""
    assert data_plan.data_error(str(source), "", "") == ""
    assert data_plan.data_error("", "file:///srv/x.tar.gz", SHA) == ""
    assert data_plan.data_error("", "https://example.org/x.tar.gz", SHA.upper()) == ""


@pytest.mark.parametrize(
    ("source", "url", "sha256", "expected"),
    [
        ("data", "", "", "hetero_data_source: must be an absolute path on the controller, e.g. /srv/data"
         " (got 'data'); fix hetero_data_source in " + WHERE),
        ("", "ssh://host/x", SHA, "hetero_data_url: must be an http(s), ftp or file URL (got 'ssh://host/x');"
         " fix hetero_data_url in " + WHERE),
        ("", "file:///x", "abc", "hetero_data_sha256: must be 64 hex digits, as sha256sum prints (got 'abc');"
         " fix hetero_data_sha256 in " + WHERE),
        ("", "file:///x", "g" * 64, "hetero_data_sha256: must be 64 hex digits"),
        ("", "file:///srv/x.tar", "", "hetero_data_url is set without hetero_data_sha256; set"
         " hetero_data_sha256 to the sha256 of file:///srv/x.tar (sha256sum prints it) in " + WHERE),
        ("", "", SHA, "hetero_data_sha256 is set without hetero_data_url; set both, or remove it, in "
         + WHERE),
        ("/srv", "file:///x", SHA, "hetero_data_source and hetero_data_url are both set"),
        ("/nonexistent/data", "", "", "hetero_data_source: /nonexistent/data does not exist on the"
         " controller; fix hetero_data_source in " + WHERE),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_naming_the_field_and_the_fix(source, url, sha256, expected):
    message = data_plan.data_error(source, url, sha256)
    assert message.startswith(expected)
    assert "\n" not in message and WHERE in message


def test_a_source_that_is_a_file_or_lacks_the_data_set_is_refused(source):
    message = data_plan.data_error(str(source / "a.bin"), "", "")
    assert message.startswith(f"hetero_data_source: {source / 'a.bin'} is a file, not a directory;")
    dirs = {"cifar10": "cifar-10-batches-py"}
    message = data_plan.data_error(str(source), "", "", "cifar10", dirs)
    assert message.startswith(
        f"hetero_data_source: {source} has no cifar-10-batches-py, which hetero_dataset"
    )
    (source / "cifar-10-batches-py").mkdir()
    assert data_plan.data_error(str(source), "", "", "cifar10", dirs) == ""
    assert data_plan.data_error(str(source), "", "", "synthetic_image", dirs) == ""


def test_a_fetched_archive_is_unpacked_into_the_tree_and_a_plain_file_lands_in_it():
    plan = data_plan.fetch_plan("https://example.org/sets/cifar-10-python.tar.gz?x=1", SHA, "/c")
    assert plan == {
        "name": "cifar-10-python.tar.gz",
        "archive": True,
        "download": f"/c/{SHA}/cifar-10-python.tar.gz",
        "tree": f"/c/{SHA}/tree",
    }
    plain = data_plan.fetch_plan("file:///srv/my%20weights.npy", SHA.upper(), "/c")
    assert plain["archive"] is False
    assert plain["download"] == f"/c/{SHA}/tree/my weights.npy"
    assert data_plan.fetch_plan("https://example.org/", SHA, "/c")["name"] == "data"
    assert data_plan.data_tree("/srv/data/", "", "", "/c") == "/srv/data"
    assert data_plan.data_tree("", "file:///x.zip", SHA, "/c") == f"/c/{SHA}/tree"


def test_a_checksum_mismatch_and_a_failed_fetch_are_one_line():
    mismatch = {
        "failed": True,
        "msg": f"The checksum for /tmp/tmpx did not match {SHA};\n it was {'cd' * 32}.",
    }
    message = data_plan.fetch_error(mismatch, "file:///x.tar", SHA)
    assert message == (
        f"hetero_data_sha256: file:///x.tar has sha256 {'cd' * 32}, not {SHA}; fix hetero_data_sha256"
        f" (or hetero_data_url, if that is the wrong file) in {WHERE}"
    )
    missing = {"failed": True, "msg": "Request failed: <urlopen error [Errno 2] No such file>"}
    message = data_plan.fetch_error(missing, "file:///x.tar", SHA)
    assert message.startswith("hetero_data_url: the controller cannot fetch file:///x.tar (Request failed:")
    assert message.endswith(f"fix hetero_data_url in {WHERE}")


def test_rsync_stats_are_read_whatever_the_grouping():
    assert data_plan.rsync_stats(STATS.splitlines()) == {
        "files": 3,
        "bytes": 1048576,
        "total_bytes": 12345678,
        "total_files": 1200,
    }
    assert data_plan.rsync_stats(STATS.replace(",", "."))["total_bytes"] == 12345678
    empty = "Number of files: 1 (dir: 1)\nNumber of regular files transferred: 0\nTotal file size: 0 bytes\n"
    assert data_plan.rsync_stats(empty) == {"files": 0, "bytes": 0, "total_bytes": 0, "total_files": 0}


def test_tree_size_counts_regular_files(source):
    (source / "link").symlink_to(source / "a.bin")
    assert data_plan.tree_size(source) == {"files": 2, "bytes": 15}


def test_sizes_read_as_df_and_rsync_print_them():
    assert [data_plan.human(n) for n in (0, 999, 1000, 1_250_000, 3 * 10**9, 5 * 10**15)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "1.2 MB",
        "3.0 GB",
        "5000.0 TB",
    ]


def test_no_room_is_one_line_naming_the_host_the_sizes_and_the_fix():
    assert data_plan.room_error("lap2", 100, 100, "/d") == ""
    assert data_plan.room_error("lap2", "2000000", "1500000", "/d") == (
        "host lap2: the data step would send 2.0 MB into hetero_data_dir /d but only 1.5 MB is free there;"
        " free some space on that filesystem, or set hetero_data_dir to a directory on a larger one in"
        f" {WHERE}"
    )


def test_the_line_after_sending_says_what_went():
    stats = data_plan.rsync_stats(STATS)
    assert (
        data_plan.sent_line(stats, "lap1", "/d") == "lap1: sent 3 of 1200 file(s) (1.0 MB of 12.3 MB) into /d"
    )
    stats["files"] = stats["bytes"] = 0
    assert (
        data_plan.sent_line(stats, "lap1", "/d")
        == "lap1: /d already has all 1200 file(s) (12.3 MB); nothing sent"
    )
