"""What a test compares before and after a run to show that nothing on a laptop changed."""

from __future__ import annotations

import hashlib

# Every file under the host data root (name, size, mtime), the engine's config, and every container.
STATE_SCRIPT = r"""
find /var/lib/hetero-cluster -printf '%p %s %T@\n' 2>/dev/null | sort
sha256sum /etc/docker/daemon.json 2>/dev/null
docker ps --all --no-trunc --format '{{.ID}} {{.Names}}'
"""


def laptop_state(lab) -> dict[str, str]:
    """{laptop: digest of its files and containers}; read inside each laptop's own namespaces."""
    states = {}
    for lap in lab.laptops:
        out = lab.run(lap.name, ["sh", "-c", STATE_SCRIPT], check=True).stdout
        states[lap.name] = (
            hashlib.sha256(out.encode()).hexdigest()[:16] + " " + out.replace("\n", " | ")[-300:]
        )
    return states
