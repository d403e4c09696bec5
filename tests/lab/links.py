"""Shaped links: each laptop's link limited to a rate (tc tbf), and delayed where the kernel has netem.

A LINKS value is a named profile or comma-separated links, one per laptop (the last repeats): `1gbit`,
`300mbit`, `unshaped`, or with a one-way delay `1gbit/2ms` (needs netem). Both directions of a laptop's
link are shaped: what it sends (egress of its eth0, inside its namespace) and what it receives (egress of
the controller-side veth towards it). Everything is validated before anything is touched, and a change that
fails midway puts every link back as it was.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re

from .shell import CommandError, run

# Named profiles (laptop 1, 2, 3...; the last repeats). Rates only, so every profile applies on a kernel
# without netem.
PROFILES = {
    "office-lan": ("1gbit",),  # gigabit Ethernet everywhere
    "home-wifi": ("1gbit", "300mbit", "100mbit"),  # one laptop on a cable, one near the router, one far
    "mixed": ("1gbit", "1gbit", "300mbit"),  # two on cables, one on WiFi
    "slow-wifi": ("100mbit", "50mbit"),  # everyone on a crowded WiFi
}
UNSHAPED = ("unshaped", "none", "-")
MIN_RATE, MAX_RATE = 1_000_000, 100_000_000_000
MAX_DELAY_MS = 1000
BURST_SECONDS = 0.02  # tbf's bucket holds about 20 ms of traffic at the rate
MIN_BURST = 16_384  # but at least a few full-size (GSO) packets, or low rates stall
TBF_LATENCY = "200ms"  # how long a packet may wait in the queue before tbf drops it
_UNITS = {"kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]bit)", re.IGNORECASE)
_BYTES = re.compile(r"\d+(?:\.\d+)?\s*[kmg]?(bps|b/s|byte)", re.IGNORECASE)
_DELAY = re.compile(r"(\d+(?:\.\d+)?)\s*ms", re.IGNORECASE)
HINT = "write a rate such as 300mbit or 1gbit, optionally with a delay (1gbit/2ms), or unshaped"


@dataclasses.dataclass(frozen=True)
class Link:
    rate: int  # bits per second
    delay_ms: float = 0.0  # one way, added in each direction (so the round trip gains twice this)

    def __str__(self) -> str:
        return format_rate(self.rate) + (f"/{self.delay_ms:g}ms" if self.delay_ms else "")

    @property
    def burst(self) -> int:
        return max(int(self.rate / 8 * BURST_SECONDS), MIN_BURST)


def format_rate(bits: int) -> str:
    for unit, size in sorted(_UNITS.items(), key=lambda u: -u[1]):
        if bits >= size:
            return f"{bits / size:f}".rstrip("0").rstrip(".") + unit
    return f"{bits}bit"


def describe(link: Link | str | None) -> str:
    return "unshaped" if link is None else str(link)


def parse_link(text: str, laptop: str) -> Link | None:
    """One laptop's link; a ValueError says, in one line, which laptop and how to write it."""
    value = text.strip()
    if value.lower() in UNSHAPED:
        return None
    rate_text, _, delay_text = value.partition("/")
    rate = _RATE.fullmatch(rate_text.strip())
    if rate is None:
        if _BYTES.fullmatch(rate_text.strip()):
            raise ValueError(
                f"{laptop}: {value!r} reads as bytes per second (tc's 'mbps' is megaBYTES/s); write the rate"
                " in bits, e.g. 300mbit"
            )
        raise ValueError(f"{laptop}: {value!r} is not a link; {HINT}")
    bits = round(float(rate.group(1)) * _UNITS[rate.group(2).lower()])
    if not MIN_RATE <= bits <= MAX_RATE:
        raise ValueError(f"{laptop}: {value!r} is out of range; give a rate from 1mbit to 100gbit")
    delay = 0.0
    if delay_text:
        found = _DELAY.fullmatch(delay_text.strip())
        if found is None or not 0 < float(found.group(1)) <= MAX_DELAY_MS:
            raise ValueError(
                f"{laptop}: {value!r} has no delay the lab can add; write ms up to 1000, e.g. 1gbit/2ms"
            )
        delay = float(found.group(1))
        if not kernel_has_netem():
            raise ValueError(
                f"{laptop}: {value!r} asks for {delay:g} ms of delay, but this kernel lacks netem; drop"
                f" '/{delay_text.strip()}' to shape the rate only"
            )
    return Link(bits, delay)


def parse_links(text: str, laptops: list[str]) -> dict[str, Link | None]:
    """A LINKS value (a profile name, or links per laptop with the last repeating) -> laptop -> link."""
    text = text.strip()
    if not text:
        return dict.fromkeys(laptops)
    if text.lower() in PROFILES:
        items = list(PROFILES[text.lower()])
    elif "," not in text and not any(c.isdigit() for c in text) and text.lower() not in UNSHAPED:
        raise ValueError(
            f"LINKS={text}: no such profile; name one of {', '.join(PROFILES)}, or give links per laptop"
            " such as 1gbit,1gbit,300mbit"
        )
    else:
        items = text.split(",")
        if len(items) > len(laptops):
            raise ValueError(
                f"LINKS={text}: {len(items)} links, but the lab has {len(laptops)} laptops"
                f" ({', '.join(laptops)});"
                f" give at most {len(laptops)} (the last repeats), or bring up more laptops"
            )
    try:
        return {name: parse_link(items[min(i, len(items) - 1)], name) for i, name in enumerate(laptops)}
    except ValueError as e:
        raise ValueError(f"LINKS={text}: {e}") from None


@functools.cache
def kernel_has_netem() -> bool:
    """Try netem in a throwaway network namespace (gone with its process): nothing of the lab is touched."""
    probe = "tc qdisc add dev lo root netem delay 1ms"
    return run(["unshare", "--net", "sh", "-c", probe], check=False).returncode == 0


# --- applying and reading back, with tc ---


@dataclasses.dataclass(frozen=True)
class Wire:
    """One laptop's link: the laptop's own interface and the controller-side veth towards it."""

    laptop: str
    ifname: str  # inside the laptop's network namespace
    host_veth: str

    def ends(self) -> list[tuple[list[str], str]]:
        """(command prefix, device) for each direction: what the laptop sends, then what it receives."""
        return [(["nsenter", f"--net=/run/netns/{self.laptop}"], self.ifname), ([], self.host_veth)]


def read_end(prefix: list[str], dev: str) -> Link | str | None:
    """What tc says shapes this device: a Link, None when nothing does, or a qdisc the lab did not make."""
    out = run([*prefix, "tc", "-j", "qdisc", "show", "dev", dev]).stdout
    qdiscs = json.loads(out or "[]")
    root = next((q for q in qdiscs if q.get("root")), None)
    if root is None or root["kind"] in ("noqueue", "pfifo_fast", "fq_codel", "mq"):
        return None
    if root["kind"] == "tbf":
        return Link(int(root["options"]["rate"]) * 8)
    if root["kind"] == "netem":
        delay = root["options"].get("delay", {})
        seconds = delay.get("delay", 0) if isinstance(delay, dict) else delay
        child = next((q for q in qdiscs if q["kind"] == "tbf" and not q.get("root")), None)
        if child is not None:
            return Link(int(child["options"]["rate"]) * 8, round(float(seconds) * 1000, 3))
    return f"{root['kind']} (not the lab's)"


def read(wire: Wire) -> tuple[Link | str | None, Link | str | None]:
    """(what the laptop sends, what it receives), read back from tc."""
    sends, receives = (read_end(prefix, dev) for prefix, dev in wire.ends())
    return sends, receives


def summary(wire: Wire) -> str:
    sends, receives = read(wire)
    if sends == receives:
        return describe(sends)
    return f"out {describe(sends)}, in {describe(receives)}"


def set_end(prefix: list[str], dev: str, link: Link | None) -> None:
    tc = [*prefix, "tc", "qdisc"]
    current = read_end(prefix, dev)
    if current == link:
        return
    if current is not None:
        run([*tc, "del", "dev", dev, "root"])
    if link is None:
        return
    tbf = ["tbf", "rate", f"{link.rate}bit", "burst", str(link.burst), "latency", TBF_LATENCY]
    if link.delay_ms:
        run([*tc, "add", "dev", dev, "root", "handle", "1:", "netem", "delay", f"{link.delay_ms:g}ms"])
        run([*tc, "add", "dev", dev, "parent", "1:1", "handle", "10:", *tbf])
    else:
        run([*tc, "add", "dev", dev, "root", *tbf])


def snapshot(wires) -> dict[Wire, tuple[Link | str | None, Link | str | None]]:
    return {wire: read(wire) for wire in wires}


def restore(before: dict[Wire, tuple]) -> list[str]:
    """Put each wire back as a snapshot found it (a qdisc the lab did not make comes back unshaped); tries
    every end and returns what failed."""
    failed = []
    for wire, ends in before.items():
        for (prefix, dev), link in zip(wire.ends(), ends, strict=True):
            try:
                set_end(prefix, dev, link if isinstance(link, Link) else None)
            except CommandError as e:
                failed.append(f"{wire.laptop} {dev}: {e}")
    return failed


def apply(plan: dict[Wire, Link | None]) -> None:
    """Shape each wire as planned (both directions). If tc fails midway, every link goes back as it was."""
    before = snapshot(plan)
    for wire, link in plan.items():
        try:
            for prefix, dev in wire.ends():
                set_end(prefix, dev, link)
        except CommandError as e:
            restore(before)  # best effort: the error names what failed first
            why = str(e).splitlines()[0]  # tc's usage text that may follow would break the one line
            raise RuntimeError(
                f"{wire.laptop}: tc could not shape its link to {describe(link)} ({why}); every link is back"
                " as it was: give a rate this machine's tc accepts, e.g. 300mbit"
            ) from None
