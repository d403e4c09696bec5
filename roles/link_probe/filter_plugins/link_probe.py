"""How preflight words the link probe's results (pure Python; tests/ansible/test_link_probe.py).

hetero_link_text(mbit, rtt_ms)             -> "287 Mbit/s, rtt 0.4 ms"
hetero_link_slow(hosts, hostvars, ratio)   -> {host: warning line} for each host whose measured throughput
                                              is under 1/ratio of the best one measured
"""

from __future__ import annotations


def mbit_text(mbit) -> str:
    """287 Mbit/s, 48.3 Mbit/s, 0.52 Mbit/s: three significant digits at most, never scientific."""
    value = float(mbit)
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def rtt_text(rtt_ms) -> str:
    """0.4 ms, 0.043 ms, 1.3 ms, 12 ms."""
    value = float(rtt_ms)
    if value >= 10:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"


def link_text(mbit, rtt_ms) -> str:
    return f"{mbit_text(mbit)} Mbit/s, rtt {rtt_text(rtt_ms)} ms"


def slow_links(hosts, hostvars, ratio=3) -> dict[str, str]:
    """Hosts whose link to the master measured under 1/ratio of the fastest host's, each with its warning."""
    measured = {
        host: float(hostvars[host]["hetero_link_mbit"])
        for host in hosts
        if host in hostvars and hostvars[host].get("hetero_link_mbit") is not None
    }
    if len(measured) < 2:
        return {}  # nothing to compare with
    best_host = max(measured, key=measured.get)
    best = measured[best_host]
    ratio = float(ratio)
    warnings = {}
    for host, mbit in measured.items():
        if mbit * ratio < best:
            master = hostvars[host].get("hetero_master_host", "the master")
            warnings[host] = (
                f"WARNING: {host}'s link to {master} is far slower than the others: "
                f"{mbit_text(mbit)} Mbit/s, under 1/{ratio:g} of {best_host}'s {mbit_text(best)} Mbit/s; "
                f"ranks on {host} will wait on it every step (check its cable or WiFi, or leave {host} out)"
            )
    return warnings


class FilterModule:
    def filters(self):
        return {"hetero_link_text": link_text, "hetero_link_slow": slow_links}
