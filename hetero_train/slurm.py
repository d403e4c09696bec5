"""SLURM's view of the job: node lists like `node[01-03,07]` expanded, and the first node as the master.

Under `srun` every task gets SLURM_PROCID (its rank), SLURM_NTASKS (the world size), SLURM_LOCALID (its
rank on the node) and SLURM_NODELIST / SLURM_JOB_NODELIST (the nodes, compressed). `scontrol show
hostnames` is SLURM's own expansion and wins when it is on PATH; inside a container it is not, so a small
parser covers the documented syntax: comma-separated items, each a name with bracketed ranges/values
(zero padding kept, several bracket groups multiply out).
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from collections.abc import Mapping

from .errors import BadInput

NODELIST_VARS = ("SLURM_JOB_NODELIST", "SLURM_NODELIST", "SLURM_STEP_NODELIST")
_GROUP = re.compile(r"\[([^\[\]]*)\]")


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets: `a[1,2],b` -> ['a[1,2]', 'b']."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
        if depth not in (0, 1):
            raise ValueError("brackets do not match")
    if depth != 0:
        raise ValueError("brackets do not match")
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _expand_group(body: str) -> list[str]:
    """`01-03,07` -> ['01', '02', '03', '07'] (the width of the first bound sets the padding)."""
    values = []
    for part in body.split(","):
        low, sep, high = part.strip().partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            raise ValueError(f"[{body}] is not a list of numbers and ranges")
        if not sep:
            values.append(low)
            continue
        if int(high) < int(low):
            raise ValueError(f"range {part} runs backwards")
        values.extend(str(n).zfill(len(low)) for n in range(int(low), int(high) + 1))
    return values


def expand_pure(nodelist: str) -> list[str]:
    """Expand a SLURM node list without SLURM. Raises ValueError on malformed input."""
    hosts: list[str] = []
    for item in _split_top_level(nodelist):
        pieces = _GROUP.split(item)  # literal, group, literal, group, ..., literal
        literals, groups = pieces[0::2], [_expand_group(g) for g in pieces[1::2]]
        if any("[" in lit or "]" in lit for lit in literals):
            raise ValueError(f"{item!r} has unmatched brackets")
        for combo in itertools.product(*groups):
            hosts.append(
                "".join(itertools.chain.from_iterable(itertools.zip_longest(literals, combo, fillvalue="")))
            )
    return hosts


def expand(nodelist: str) -> list[str]:
    """SLURM's own expansion when `scontrol` is here (it knows every site's syntax), else `expand_pure`."""
    scontrol = shutil.which("scontrol")
    if scontrol:
        done = subprocess.run([scontrol, "show", "hostnames", nodelist], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.split():
            return done.stdout.split()
    return expand_pure(nodelist)


def master_node(env: Mapping[str, str]) -> str | None:
    """The first node of the job's node list (where SLURM puts task 0), or None outside SLURM."""
    for name in NODELIST_VARS:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            hosts = expand(raw)
        except ValueError as err:
            raise BadInput(
                f"{name}={raw!r} is not a SLURM node list ({err}); set MASTER_ADDR instead"
            ) from None
        if hosts:
            return hosts[0]
    return None


# The torchrun/container name each SLURM variable stands in for.
_FALLBACKS = {"RANK": "SLURM_PROCID", "WORLD_SIZE": "SLURM_NTASKS", "LOCAL_RANK": "SLURM_LOCALID"}


def fill_from_slurm(env: Mapping[str, str]) -> Mapping[str, str]:
    """`env` with RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR taken from SLURM's variables where they are unset.

    Per variable, so an sbatch script may still pin one of them (e.g. MASTER_ADDR) and SLURM gives the rest.
    """
    if not any(env.get(name) for name in (*_FALLBACKS.values(), *NODELIST_VARS)):
        return env
    filled = dict(env)
    for name, slurm_name in _FALLBACKS.items():
        raw = env.get(slurm_name, "").strip()
        if env.get(name) or not raw:
            continue
        if not raw.isdigit():
            raise BadInput(f"{slurm_name}={raw!r} is not a whole number; run under srun or set {name}")
        filled[name] = raw
    if not env.get("MASTER_ADDR"):
        node = master_node(env)
        if node:
            filled["MASTER_ADDR"] = node
    return filled
