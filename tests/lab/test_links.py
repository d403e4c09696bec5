"""Lab links like real ones: LINKS shapes each laptop's link both ways with tc, status reads the rate back
from tc, a shaped link really carries no more than its rate, and a value the lab cannot apply is refused in
one line naming the laptop, with nothing left half-configured."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.lab import LabConfig, status
from tests.lab.config import LAPTOP_IFNAME, REPO
from tests.lab.links import Link, apply, kernel_has_netem, parse_links

LAPTOPS = ["lap1", "lap2", "lap3"]
PORT = 5201
SECONDS = 2.0
# Receives for SECONDS after the first byte and prints the bits per second that arrived.
RECEIVER = """
import socket, sys, time
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
conn, _ = server.accept()
buf = bytearray(1 << 20)
received = conn.recv_into(buf)
start = time.monotonic()
while (elapsed := time.monotonic() - start) < float(sys.argv[3]):
    received += conn.recv_into(buf)
print(received * 8 / elapsed)
"""
# Sends zeros until the receiver hangs up.
SENDER = """
import socket, sys
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
try:
    while True:
        conn.sendall(bytes(1 << 20))
except OSError:
    pass
"""


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", [None, None, None]),
        ("1gbit,1gbit,300mbit", [Link(10**9), Link(10**9), Link(300 * 10**6)]),
        ("50mbit", [Link(50 * 10**6)] * 3),  # the last repeats, as with LAB_CPUS
        ("1.5gbit,unshaped", [Link(1_500_000_000), None, None]),
        ("home-wifi", [Link(10**9), Link(300 * 10**6), Link(100 * 10**6)]),
        ("office-lan", [Link(10**9)] * 3),
    ],
)
def test_links_values_the_lab_accepts(value, expected):
    assert list(parse_links(value, LAPTOPS).values()) == expected


@pytest.mark.parametrize(
    "value, laptop, fix",
    [
        ("1gbit,fast,300mbit", "lap2", "300mbit"),
        ("1gbit,1gbit,300mbps", "lap3", "300mbit"),  # tc would read mbps as megaBYTES per second
        ("0mbit", "lap1", "1mbit"),
        ("1gbit,1gbit/soon", "lap2", "1gbit/2ms"),
        ("1gbit,1gbit,1gbit,1gbit", "lap3", "at most 3"),
        ("wifi", "", "home-wifi"),  # no such profile: the line names the profiles there are
    ],
)
def test_a_links_value_the_lab_cannot_apply_is_one_line_naming_the_laptop_and_the_fix(value, laptop, fix):
    with pytest.raises(ValueError) as refused:
        LabConfig(links=value)
    message = str(refused.value)
    assert "\n" not in message and laptop in message and fix in message, message


def test_a_delay_without_netem_is_refused_saying_so():
    if kernel_has_netem():
        assert parse_links("1gbit/2ms", LAPTOPS)["lap1"] == Link(10**9, 2.0)
    else:
        with pytest.raises(ValueError, match="lap1: .* this kernel lacks netem; drop '/2ms'"):
            parse_links("1gbit/2ms", LAPTOPS)


def test_lab_up_refuses_a_bad_links_value_before_touching_anything():
    result = subprocess.run(
        [sys.executable, "-m", "tests.lab", "up", "-n", "3", "--links", "1gbit,300mbps"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "lap2" in result.stderr and "300mbit" in result.stderr
    assert "lab [" not in result.stderr  # nothing started: no progress lines


@pytest.fixture
def links_restored(lab):
    """Every laptop's link unshaped again after the test, whatever happened in it."""
    try:
        yield lab
    finally:
        lab.unshape()


def _link_lines(lab) -> dict[str, str]:
    _healthy, lines = status(lab.cfg)
    return {line.split()[0]: line.split("link ", 1)[1] for line in lines if "  link " in line}


@pytest.mark.lab
def test_a_shaped_link_reads_back_in_status(links_restored):
    lab = links_restored
    with lab.shaped({"lap3": "300mbit"}):
        assert _link_lines(lab) == {"lap1": "unshaped", "lap2": "unshaped", "lap3": "300mbit"}
        # Both directions, as tc shows them: the laptop's eth0 and the controller-side veth towards it.
        inside = lab.run("lap3", ["tc", "qdisc", "show", "dev", LAPTOP_IFNAME], check=True).stdout
        outside = subprocess.run(
            ["tc", "qdisc", "show", "dev", "v-lap3"], capture_output=True, text=True
        ).stdout
        assert "tbf" in inside and "rate 300Mbit" in inside
        assert "tbf" in outside and "rate 300Mbit" in outside
    assert set(_link_lines(lab).values()) == {"unshaped"}


@pytest.mark.lab
def test_a_change_that_fails_midway_puts_every_link_back(links_restored):
    lab = links_restored
    lab.shape("lap1", "1gbit")
    # lap3 is shaped both ways, then tc refuses lap2's (a rate of 0, which LINKS itself never lets through).
    with pytest.raises(RuntimeError) as refused:
        apply({lab.wire("lap3"): Link(50 * 10**6), lab.wire("lap2"): Link(0)})
    message = str(refused.value)
    assert "\n" not in message and message.startswith("lap2: tc could not shape its link to 0bit"), message
    assert "every link is back as it was" in message
    assert _link_lines(lab) == {"lap1": "1gbit", "lap2": "unshaped", "lap3": "unshaped"}


def _throughput(lab, sender: str, receiver: str) -> float:
    """Bits per second that arrive at `receiver` from `sender` over SECONDS of one TCP stream."""
    address = lab.laptop(receiver).address
    rx = subprocess.Popen(
        [*lab.nsenter(receiver), "python3", "-c", RECEIVER, address, str(PORT), str(SECONDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert rx.stdout.readline().strip() == "ready", rx.stderr.read()
        lab.run(sender, ["python3", "-c", SENDER, address, str(PORT)], check=True, timeout=60)
        out, err = rx.communicate(timeout=60)
        assert rx.returncode == 0, err
        return float(out)
    finally:
        rx.kill()
        rx.wait()


@pytest.mark.lab
def test_a_link_shaped_to_50_mbits_carries_no_more_than_that_both_ways(links_restored):
    lab = links_restored
    rate = 50e6
    unshaped = (_throughput(lab, "lap1", "lap2"), _throughput(lab, "lap2", "lap1"))
    with lab.shaped({"lap2": "50mbit"}):
        to_lap2, from_lap2 = _throughput(lab, "lap1", "lap2"), _throughput(lab, "lap2", "lap1")
    print(
        f"lap1->lap2 / lap2->lap1: unshaped {unshaped[0] / 1e6:.0f} / {unshaped[1] / 1e6:.0f} Mbit/s;"
        f" lap2 at 50mbit {to_lap2 / 1e6:.1f} / {from_lap2 / 1e6:.1f} Mbit/s"
    )
    # A physical bound: tbf lets through the rate plus one 20 ms bucket, never 1.5 times the rate.
    assert 0 < to_lap2 <= 1.5 * rate
    assert 0 < from_lap2 <= 1.5 * rate
