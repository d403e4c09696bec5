"""What the CLI turns into one line and an exit code: bad input (2), a lost peer (3), SIGTERM (143), a job
that went on without this rank (0)."""


class BadInput(Exception):
    """Raised for invalid flags, environment or data; the CLI prints it as one line and exits 2.

    Every check that can raise it runs before the experiment directory is created, so bad input leaves
    no files behind.
    """


class PeerLost(Exception):
    """A peer vanished mid-training (its collective failed or timed out). The message says who, what is
    kept and how the job resumes; the non-zero exit makes Docker's on-failure policy restart the rank."""

    exit_code = 3


class WentOnWithout(Exception):
    """This rank comes back to a job whose other ranks re-formed their world without it (world_change.py):
    it stops with one line and exit 0, so Docker does not restart it. (Joining a running job: not yet.)"""


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, a stopping Docker engine): stop as Ctrl-C would, at the next instruction."""

    exit_code = 143  # 128 + SIGTERM, as if the signal had ended the process
