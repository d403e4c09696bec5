"""Running commands and telling the user what the lab is doing."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

_START = time.monotonic()


def progress(message: str) -> None:
    print(f"lab [{time.monotonic() - _START:5.1f}s] {message}", file=sys.stderr, flush=True)


class CommandError(RuntimeError):
    pass


def argv(cmd) -> list[str]:
    """A command as an argument list; a string is a shell script."""
    return ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)


def run(cmd, *, check: bool = True, input: str | bytes | None = None, timeout: float | None = 300, **kw):
    """Run a command (list, or string for sh -c); on failure raise with the command and its stderr."""
    cmd = argv(cmd)
    kw.setdefault("capture_output", True)
    text = not isinstance(input, bytes)
    result = subprocess.run(cmd, input=input, text=text, timeout=timeout, check=False, **kw)
    if check and result.returncode != 0:
        err = (result.stderr or "").strip() if text else ""
        raise CommandError(f"`{shlex.join(cmd)}` failed with exit code {result.returncode}: {err}")
    return result


def ok(cmd, **kw) -> bool:
    return run(cmd, check=False, **kw).returncode == 0


def wait_until(what: str, predicate, timeout: float = 60, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CommandError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
