"""A packet capture on lab interfaces, in Python (no tcpdump needed): every IPv4 packet's protocol, addresses
and ports, collected by a thread while the test does its work. Used to show what crosses the lab's wire."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp"}


@dataclass(frozen=True)
class Packet:
    proto: str
    src: str
    dst: str
    sport: int
    dport: int


def parse(frame: bytes) -> Packet | None:
    """The IPv4 packet in an Ethernet frame, or None for anything else (ARP, IPv6)."""
    if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    proto = frame[23]
    src, dst = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
    ports = frame[14 + ihl : 18 + ihl]
    sport, dport = struct.unpack("!HH", ports) if proto in (6, 17) and len(ports) == 4 else (0, 0)
    return Packet(PROTOCOLS.get(proto, str(proto)), src, dst, sport, dport)


@contextlib.contextmanager
def capture(interfaces: list[str]):
    """Yields a list that fills with the Packets seen on `interfaces` (names in this network namespace)
    until the block ends."""
    seen: list[Packet] = []
    stop = threading.Event()
    socks = []
    for name in interfaces:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
        sock.bind((name, 0))
        sock.settimeout(0.2)
        socks.append(sock)

    def read(sock):
        while not stop.is_set():
            try:
                packet = parse(sock.recv(65535))
            except TimeoutError:
                continue
            if packet is not None:
                seen.append(packet)

    threads = [threading.Thread(target=read, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    try:
        yield seen
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for s in socks:
            s.close()
