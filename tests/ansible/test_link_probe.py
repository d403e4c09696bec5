"""The link probe without the lab: its wording (roles/link_probe/filter_plugins/link_probe.py) and its two
ends (roles/link_probe/library/hetero_link_probe.py) talking over loopback, imported as plain modules."""

from __future__ import annotations

import importlib.util
import sys
import threading

import pytest

from tests.ansible.playbook import REPO

ROLE = REPO / "roles" / "link_probe"


def _load(name: str, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


words = _load("hetero_link_probe_filter", ROLE / "filter_plugins" / "link_probe.py")
probe = _load("hetero_link_probe_module", ROLE / "library" / "hetero_link_probe.py")


@pytest.mark.parametrize(
    ("mbit", "rtt", "text"),
    [
        (287.4, 0.41, "287 Mbit/s, rtt 0.41 ms"),
        (48.34, 0.4, "48.3 Mbit/s, rtt 0.4 ms"),
        (20412.0, 0.043, "20412 Mbit/s, rtt 0.043 ms"),
        (0.523, 1.26, "0.52 Mbit/s, rtt 1.3 ms"),
        ("96.0", "123.4", "96.0 Mbit/s, rtt 123 ms"),  # facts come back as strings
    ],
)
def test_link_text_reads_like_the_plan(mbit, rtt, text):
    assert words.link_text(mbit, rtt) == text


def _hostvars(**mbit):
    hosts = {name: {"hetero_master_host": "lap1", "hetero_link_mbit": value} for name, value in mbit.items()}
    hosts["lap1"] = {"hetero_master_host": "lap1"}  # the master measures nothing
    return hosts


def test_a_host_under_a_third_of_the_best_is_named_in_a_warning():
    hostvars = _hostvars(lap2=48.3, lap3="20412.0", lap4=9000)
    slow = words.slow_links(["lap1", "lap2", "lap3", "lap4"], hostvars, 3)
    assert list(slow) == ["lap2"]
    assert slow["lap2"].startswith("WARNING: lap2's link to lap1 is far slower than the others: 48.3 Mbit/s")
    assert "lap3's 20412 Mbit/s" in slow["lap2"]


def test_no_warning_with_one_measured_link_or_links_alike():
    assert words.slow_links(["lap1", "lap2"], _hostvars(lap2=5), 3) == {}
    assert words.slow_links(["lap1", "lap2", "lap3"], _hostvars(lap2=400, lap3=1000), 3) == {}
    assert words.slow_links(["lap1", "lap2", "lap3"], _hostvars(lap2=600, lap3=1000), "2") == {}  # a knob
    assert list(words.slow_links(["lap1", "lap2", "lap3"], _hostvars(lap2=400, lap3=1000), 2)) == ["lap2"]


@pytest.fixture
def sink(tmp_path):
    """The master's end on loopback, in a thread, as the async task runs it."""
    port_file = tmp_path / "probe.port"
    done = {}
    thread = threading.Thread(target=lambda: done.update(probe.serve("127.0.0.1", str(port_file), 30)))
    thread.start()
    port = probe.read_port(str(port_file), 10)
    yield port, port_file, done, thread
    probe.stop("127.0.0.1", port, 2)
    thread.join(10)


def test_a_host_measures_throughput_and_round_trips_then_the_sink_stops_and_leaves_nothing(sink):
    port, port_file, done, thread = sink
    first = probe.measure("127.0.0.1", port, 0.3, 5, 5)
    second = probe.measure("127.0.0.1", port, 0.3, 5, 5)  # the sink serves one host after another
    for result in (first, second):
        assert result["mbit"] > 0 and result["rtt_ms"] > 0 and result["bytes"] > 0
        assert result["mbit"] == pytest.approx(result["bytes"] * 8 / result["seconds"] / 1e6, rel=0.01)
    assert probe.stop("127.0.0.1", port, 2) is True
    thread.join(10)
    assert not thread.is_alive() and done == {"served": 4}  # two hosts: an echo and a sink connection each
    assert not port_file.exists() and list(port_file.parent.iterdir()) == []


def test_a_sink_that_is_gone_is_a_short_reason(sink):
    port, _port_file, _done, thread = sink
    probe.stop("127.0.0.1", port, 2)
    thread.join(10)
    with pytest.raises(OSError) as refused:
        probe.measure("127.0.0.1", port, 0.2, 3, 2)
    assert probe._reason(refused.value) == "connection refused"
    assert probe.stop("127.0.0.1", port, 2) is False  # stopping twice is fine


def test_the_sink_quits_at_its_deadline_and_removes_its_port_file(tmp_path):
    port_file = tmp_path / "probe.port"
    assert probe.serve("127.0.0.1", str(port_file), 0.2) == {"served": 0}
    assert not port_file.exists()


def test_a_sink_that_cannot_bind_says_why_and_leaves_no_file(tmp_path):
    with pytest.raises(OSError) as failed:
        probe.serve("192.0.2.1", str(tmp_path / "probe.port"), 1)  # TEST-NET: not this host's address
    assert probe._reason(failed.value) == "cannot assign requested address"
    assert list(tmp_path.iterdir()) == []
