"""A trainer log line as a person reads it: the JSON events of its stdout in one short line each.

The trainer prints one JSON object per line on stdout (`hetero_train/metrics.py` emit: hardware, plan, step,
forecast, all_reduce, links, precision, snapshot, resume, profile, left_out, world, sync, done, peer_lost)
and human text on stderr. `readable(text)` turns an event into e.g. `step 120 · loss 1.81 · share 95 ·
452 samples/s · comm 31%` (comm: comm_s over step_s); an event it does not know becomes
`name: key=value ...`; any other line is returned as it is. The rank is left out: the log view prefixes
every line with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache

from .metrics import parse_line

SEP = " · "


def number(value) -> str:
    """A measured number, short: 452, 45.2, 4.52, 0.0123 (whole numbers as they are)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def shares(value) -> str:
    """[64, 64] -> 64/64."""
    return "/".join(map(str, value)) if isinstance(value, list) else str(value)


def ranks(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def compact(value) -> str:
    """A field's value in `key=value`: strings bare unless they hold a space, the rest as compact JSON."""
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    if isinstance(value, float):
        return number(value)
    return json.dumps(value, separators=(",", ":"))


def joined(*parts: str | None) -> str:
    return SEP.join(part for part in parts if part)


def _at(event: dict) -> str:
    return f"step {event.get('step', '?')}"


def _rate(event: dict, key: str = "samples_per_s", label: str = "samples/s") -> str | None:
    value = event.get(key)
    return f"{number(value)} {label}" if isinstance(value, int | float) else None


def _step(e: dict) -> str:
    comm = None
    if isinstance(e.get("comm_s"), int | float) and isinstance(e.get("step_s"), int | float) and e["step_s"]:
        comm = f"comm {100 * e['comm_s'] / e['step_s']:.0f}%"
    loss = f"loss {number(e['loss'])}" if "loss" in e else None
    share = f"share {e['share']}" if "share" in e else None
    return joined(f"step {e.get('step', '?')}", loss, share, _rate(e), comm)


def _plan(e: dict) -> str:
    now = shares(e.get("shares"))
    change = f"{shares(e['previous'])} -> {now}" if "previous" in e else now
    head = f"plan: shares {change}" + (f" ({e['reason']})" if e.get("reason") else "")
    step = f"step {e['step']}" if e.get("step") else None
    return joined(head, step, _rate(e, "predicted_samples_per_s", "samples/s predicted"))


def _forecast(e: dict) -> str:
    best = e.get("best_subset")
    best_part = None
    if best is not None:
        best_part = f"best ranks {ranks(best)}: {number(e.get('best_subset_samples_per_s'))} samples/s"
    left = e.get("left_out") or {}
    why = "; ".join(f"without {r}: {text}" for r, text in left.items()) if isinstance(left, dict) else None
    world = f"all ranks {number(e.get('predicted_samples_per_s'))} samples/s"
    return joined(f"forecast at {_at(e)}: {world}", best_part, why)


def _world(e: dict) -> str:
    gone = ranks(sorted(e.get("left_out") or {}, key=str))
    head = f"world {e.get('generation', '?')}: ranks {ranks(e.get('ranks'))} go on"
    head += f" without {gone}" if gone else ""
    return joined(head, _at(e), _rate(e, "predicted_samples_per_s", "samples/s predicted"))


def _peer_lost(e: dict) -> str:
    snap = e.get("snapshot_step")
    return joined(
        f"peer lost at {_at(e)}",
        f"newest snapshot: step {snap}" if snap is not None else "no snapshot",
        f"exit {e['exit_code']}" if "exit_code" in e else None,
        e.get("error"),
    )


def _sync(e: dict) -> str:
    sent = e.get("sent_fraction")
    return joined(f"sync: {e.get('mode', '?')}", f"sent {100 * sent:.3g}% of the gradient" if sent else None)


def _hardware(e: dict) -> str:
    return joined(
        f"hardware: {e.get('summary') or e.get('device', '?')}",
        f"backend {e['backend']}" if "backend" in e else None,
        f"world size {e['world_size']}" if "world_size" in e else None,
    )


def _all_reduce(e: dict) -> str:
    return (
        f"all-reduce of {number(e.get('megabytes'))} MB: {e.get('seconds', '?')} s"
        f" ({number(e.get('mbit_per_s'))} Mbit/s)"
    )


FORMS: dict[str, Callable[[dict], str]] = {
    "step": _step,
    "plan": _plan,
    "forecast": _forecast,
    "world": _world,
    "peer_lost": _peer_lost,
    "sync": _sync,
    "hardware": _hardware,
    "all_reduce": _all_reduce,
    "links": lambda e: f"links to rank 0: {'/'.join(map(number, e.get('mbit_per_s') or []))} Mbit/s",
    "snapshot": lambda e: f"snapshot at {_at(e)} (epoch {e.get('epoch', '?')}): {e.get('path')}",
    "resume": lambda e: joined(
        f"resumed at {_at(e)} (epoch {e.get('epoch', '?')})",
        f"shares {shares(e['shares'])}" if "shares" in e else None,
    ),
    "precision": lambda e: joined(
        f"precision: {e.get('precision', '?')}" + (f" ({e['reason']})" if e.get("reason") else ""),
        "loss scaling" if e.get("loss_scaling") else None,
    ),
    "profile": lambda e: f"profile written: {e.get('path')}",
    "left_out": lambda e: str(e.get("reason") or f"left out at {_at(e)}"),
    "done": lambda e: f"done at {_at(e)}",
}


def generic(event: dict) -> str:
    """`name: key=value ...` for an event this module does not know (the rank left out: it is the prefix)."""
    shown = {key: value for key, value in event.items() if key not in ("event", "rank")}
    fields = " ".join(f"{key}={compact(value)}" for key, value in shown.items())
    return f"{event['event']}: {fields}" if fields else str(event["event"])


@lru_cache(maxsize=4096)  # the view redraws the rows on screen many times: each is parsed once
def readable(text: str) -> str:
    """The line as a person reads it: a trainer event in short, anything else unchanged."""
    event = parse_line(text)
    if event is None:
        return text
    form = FORMS.get(str(event["event"]), generic)
    try:
        shown = form(event)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):  # an event of an unexpected shape
        shown = generic(event)
    # one row stays one row: a decoded string may hold line breaks (an error's message)
    return shown.replace("\r", "").replace("\n", " | ").replace("\t", " ")
