#!/usr/bin/python
"""The link probe's two ends, in the Python standard library only (preflight installs nothing).

mode=serve   on the master: a one-shot TCP sink on an ephemeral port of the cluster address; writes the port
             to port_file, serves one connection at a time until told to quit or until deadline seconds have
             passed, then removes port_file. Run it as an async task.
mode=port    on the master: waits for port_file and returns the port.
mode=measure on another host: a few small round trips (the round-trip time, median), then bytes for
             `seconds`; the throughput counts only what the sink confirms it received.
mode=stop    on the master: tells the sink to quit (nothing to do when it is gone already).

Protocol, one byte first on each connection: b"E" echo 64-byte messages until EOF; b"S" read until EOF,
answer the byte count as a line; b"Q" quit.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import time

DOCUMENTATION = r"""
module: hetero_link_probe
short_description: Measure a host's TCP throughput and round-trip time to the cluster's master
description: A one-shot TCP sink (mode=serve) and its client (mode=measure); changes nothing on the host.
options:
  mode: {type: str, required: true, choices: [serve, port, measure, stop], description: which end}
  addr: {type: str, description: the master's cluster address}
  port: {type: int, description: the sink's port (measure, stop)}
  port_file: {type: path, description: where the sink writes its port (serve, port)}
  deadline: {type: float, default: 120, description: seconds after which the sink quits regardless}
  seconds: {type: float, default: 2, description: how long to send bytes (measure)}
  rounds: {type: int, default: 10, description: small round trips timed (measure)}
  timeout: {type: float, default: 5, description: seconds to connect, or to wait for port_file}
author: hetero-cluster
"""

MESSAGE = 64
CHUNK = 256 * 1024


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            break
        data += more
    return data


def serve(addr: str, port_file: str, deadline: float) -> dict:
    """Serve probes until b"Q" or the deadline; always remove port_file."""
    end = time.monotonic() + deadline
    served = 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        try:
            listener.bind((addr, 0))
            listener.listen(8)
            tmp = f"{port_file}.tmp"
            with open(tmp, "w", encoding="ascii") as out:
                out.write(f"{listener.getsockname()[1]}\n")
            os.replace(tmp, port_file)
            while (left := end - time.monotonic()) > 0:
                listener.settimeout(left)
                try:
                    conn, _peer = listener.accept()
                except TimeoutError:
                    break
                with conn:
                    conn.settimeout(max(1.0, end - time.monotonic()))
                    try:
                        kind = _recv_exact(conn, 1)
                        if kind == b"Q":
                            break
                        served += 1
                        if kind == b"E":
                            while len(message := _recv_exact(conn, MESSAGE)) == MESSAGE:
                                conn.sendall(message)
                        elif kind == b"S":
                            count = 0
                            while more := conn.recv(CHUNK):
                                count += len(more)
                            conn.sendall(f"{count}\n".encode())
                    except OSError:
                        continue  # one broken probe does not end the sink
        finally:
            for path in (port_file, f"{port_file}.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    return {"served": served}


def read_port(port_file: str, timeout: float) -> int:
    end = time.monotonic() + timeout
    while True:
        try:
            with open(port_file, encoding="ascii") as found:
                return int(found.read().strip())
        except (FileNotFoundError, ValueError) as missing:
            if time.monotonic() > end:
                raise TimeoutError(f"the sink wrote no port to {port_file} in {timeout:g} s") from missing
            time.sleep(0.05)


def _connect(addr: str, port: int, timeout: float, kind: bytes) -> socket.socket:
    conn = socket.create_connection((addr, port), timeout=timeout)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sendall(kind)
    return conn


def measure(addr: str, port: int, seconds: float, rounds: int, timeout: float) -> dict:
    """Round-trip time (median of `rounds`) and throughput (bytes the sink confirms / time until it does)."""
    times = []
    with _connect(addr, port, timeout, b"E") as conn:
        conn.settimeout(timeout)
        message = b"x" * MESSAGE
        for _ in range(max(1, rounds)):
            start = time.perf_counter()
            conn.sendall(message)
            if len(_recv_exact(conn, MESSAGE)) != MESSAGE:
                raise ConnectionError("the sink closed the connection during the round trips")
            times.append(time.perf_counter() - start)
    with _connect(addr, port, timeout, b"S") as conn:
        conn.settimeout(timeout + seconds + 30)  # a slow link drains its queues after the last send
        payload = os.urandom(CHUNK)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while more := conn.recv(64):
            answer += more
        elapsed = time.perf_counter() - start
    if not answer.strip().isdigit():
        raise ConnectionError("the sink did not confirm what it received")
    received = int(answer)
    return {
        "mbit": round(received * 8 / elapsed / 1e6, 1),
        "rtt_ms": round(statistics.median(times) * 1000, 3),
        "bytes": received,
        "seconds": round(elapsed, 3),
    }


def stop(addr: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=timeout) as conn:
            conn.sendall(b"Q")
        return True
    except OSError:
        return False  # gone already (its deadline passed)


def _reason(error: Exception) -> str:
    """'connection refused', 'timed out', 'cannot assign requested address': the OS's words, short."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text[0].lower() + text[1:]


def main() -> None:
    # Imported here, not at the top: the tests import this file for its probe functions, and loading
    # ansible.module_utils patches sys.intern in that process (torch's dynamo then refuses to trace it).
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "required": True, "choices": ["serve", "port", "measure", "stop"]},
            "addr": {"type": "str"},
            "port": {"type": "int"},
            "port_file": {"type": "path"},
            "deadline": {"type": "float", "default": 120},
            "seconds": {"type": "float", "default": 2},
            "rounds": {"type": "int", "default": 10},
            "timeout": {"type": "float", "default": 5},
        },
        required_if=[
            ("mode", "serve", ("addr", "port_file")),
            ("mode", "port", ("port_file",)),
            ("mode", "measure", ("addr", "port")),
            ("mode", "stop", ("addr", "port")),
        ],
        supports_check_mode=True,  # nothing on the host changes in any mode
    )
    p = module.params
    try:
        if p["mode"] == "serve":
            result = serve(p["addr"], p["port_file"], p["deadline"])
        elif p["mode"] == "port":
            result = {"port": read_port(p["port_file"], p["timeout"])}
        elif p["mode"] == "measure":
            result = measure(p["addr"], p["port"], p["seconds"], p["rounds"], p["timeout"])
        else:
            result = {"stopped": stop(p["addr"], p["port"], p["timeout"])}
    except (OSError, ValueError) as error:  # TimeoutError and ConnectionError are OSErrors
        module.fail_json(msg=_reason(error), changed=False)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
