"""The settings of a job whose laptops may leave (`--peer-timeout`, `--min-ranks`): part of the one settings
schema, whose list (settings.SETTINGS) takes them from here. What they drive: membership.py.

No torch import here: the controller and the TUI import this module.
"""

from __future__ import annotations

from .setting import Setting

ELASTIC_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "hetero_peer_timeout",
        "--peer-timeout",
        float,
        0.0,
        "seconds without a rank's heartbeat (sent through the rendezvous store, whatever its step time)"
        " before the others re-form the world without it and go on from the step they are at; 0: off, a"
        " vanished rank stops the job after the collective timeout and it resumes once every rank is back",
        minimum=0,
    ),
    Setting(
        "hetero_min_ranks",
        "--min-ranks",
        int,
        1,
        "with a peer timeout: the fewest ranks the job goes on with; below it every rank stops (exit 3),"
        " snapshots kept",
        minimum=1,
    ),
)
