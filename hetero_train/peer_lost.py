"""What a rank does when a peer vanishes mid-training: stop, keep the snapshots, and say how it resumes.

We stop and resume rather than continue without the peer: gloo/NCCL process groups cannot shrink in place,
an exact step needs every rank's slice of the one global sample order, and torch's elastic agent also
restarts the whole world. So each survivor's failed collective becomes ONE line (who was lost, what
happened, which snapshots are kept, how the job resumes) and exit code 3; Docker's on-failure policy then
restarts the rank, which waits at the rendezvous, and the ranks resume from the newest snapshot they all hold.
"""

from __future__ import annotations

import re

from .errors import PeerLost

# Text of the errors gloo/NCCL raise when a peer stops answering or its connection drops. A failed
# collective is a RuntimeError (or torch's DistError); the text tells it from a bug in the training code.
_MARKERS = (
    "gloo",
    "nccl",
    "timed out",
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "connection refused",
    "no route to host",
)
_PEER_ADDRESS = re.compile(r"\[([0-9A-Fa-f.:]+)\]:\d+")


def is_lost_peer(error: BaseException) -> bool:
    try:
        import torch.distributed as dist

        if isinstance(error, dist.DistError):
            return True
    except (ImportError, AttributeError):
        pass
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(m in text for m in _MARKERS)


def _who(rank: int, records: list[dict], text: str) -> str:
    others = [f"rank {r} ({rec.get('hostname', '?')})" for r, rec in enumerate(records) if r != rank]
    who = others[0] if len(others) == 1 else "a peer among " + ", ".join(others)
    found = _PEER_ADDRESS.search(text)
    return f"{who} at {found.group(1)}" if found else who


def _what(text: str, timeout_s: float) -> str:
    if "timed out" in text.lower() or "timeout" in text.lower():
        return (
            f"no answer within the {timeout_s:g} s collective timeout"
            " (its laptop left the network, its Docker stopped, or it hangs)"
        )
    return "its connection dropped (it crashed, was stopped, or its laptop left)"


def peer_lost(
    error: BaseException,
    *,
    rank: int,
    records: list[dict],
    step: int,
    snapshot_steps: list[int],
    snapshot_dir: str,
    collective_timeout_s: float,
    rendezvous_timeout_s: float,
) -> PeerLost:
    """The one-line PeerLost for a failed collective during step `step + 1`."""
    text = str(error)
    kept = (
        f"snapshots up to step {snapshot_steps[-1]} are kept in {snapshot_dir}"
        if snapshot_steps
        else "no snapshot yet, so the job restarts from step 0"
    )
    what = _what(text, collective_timeout_s)
    return PeerLost(
        f"rank {rank}: lost {_who(rank, records, text)} during step {step + 1}: {what};"
        f" {kept}. Exiting with code {PeerLost.exit_code}: Docker restarts this rank, which waits up to"
        f" {rendezvous_timeout_s:g} s per restart for all {len(records)} ranks and resumes by itself from the"
        " newest snapshot they all hold; if the restarts run out first, re-run launch"
        " (ansible-playbook site.yml --tags launch, or Launch in the TUI) to resume"
    )
