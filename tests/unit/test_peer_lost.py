"""How a rank stops when it must. A peer that vanishes mid-training: the other rank stops waiting after
--collective-timeout, says so in ONE line (who, what happened, which snapshots are kept, how the job resumes),
exits 3 for Docker's on-failure restart, and a rerun of both ranks resumes from the newest snapshot they hold.
SIGTERM (docker stop, a stopping engine): one line, exit 143, at once."""

from __future__ import annotations

import os
import signal
import time

from hetero_train.cli import DEFAULT_COLLECTIVE_TIMEOUT, parse_config
from hetero_train.errors import PeerLost

from .runs import TINY, rank_envs, run_ranks, start_rank

ENV = {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def test_the_collective_timeout_is_a_flag_with_a_default_a_slow_rank_fits_in():
    assert parse_config([], env=ENV).collective_timeout == DEFAULT_COLLECTIVE_TIMEOUT == 600
    assert parse_config(["--collective-timeout", "45.5"], env=ENV).collective_timeout == 45.5


def _wait_for_snapshot(directory, limit_s: float = 300) -> None:
    """A hang guard (generous), never a speed requirement."""
    deadline = time.monotonic() + limit_s
    while not any(directory.glob("step_*.pt")):
        assert time.monotonic() < deadline, f"no snapshot in {directory} after {limit_s:g} s"
        time.sleep(0.2)


def test_a_silent_peer_stops_the_other_rank_with_one_line_and_exit_3_and_a_rerun_resumes(tmp_path):
    # --max-steps far beyond what runs before the peer is frozen; SIGSTOP leaves its sockets open and
    # silent, as a cut link or a closed lid does (a crash would close them at once).
    args = [*TINY, "--epochs", "50", "--max-steps", "100000", "--save-every", "3"]
    args += ["--collective-timeout", "3", "--experiment-name", "lost"]
    ranks = [start_rank(env, args, tmp_path) for env in rank_envs(2)]
    checkpoints = tmp_path / "experiments" / "lost" / "checkpoints"
    try:
        _wait_for_snapshot(checkpoints / "rank_1")
        os.kill(ranks[1].pid, signal.SIGSTOP)
        out, err = ranks[0].communicate(timeout=120)
    finally:
        os.kill(ranks[1].pid, signal.SIGCONT)
        ranks[1].kill()
        ranks[1].communicate()

    assert ranks[0].returncode == PeerLost.exit_code == 3
    lines = [line for line in err.splitlines() if "lost" in line]
    assert len(lines) == 1, err[-2000:]
    line = lines[0]
    assert line.startswith("hetero-train: rank 0: lost rank 1 (")
    assert "no answer within the 3 s collective timeout" in line
    kept = max(int(p.stem.split("_")[1]) for p in (checkpoints / "rank_0").glob("step_*.pt"))
    assert f"snapshots up to step {kept} are kept in experiments/lost/checkpoints/rank_0" in line
    assert "Exiting with code 3" in line and "site.yml --tags launch" in line
    assert '"event": "peer_lost"' in out

    # Both ranks again, as Docker's restarts (or a relaunch) would start them: the job resumes.
    done = run_ranks(2, [*args[:-2], "--max-steps", str(kept + 2), "--experiment-name", "lost"], tmp_path)
    for result in done:
        assert result.of("resume")[0]["step"] >= 3
        assert result.of("done")[0]["step"] == kept + 2


def test_sigterm_stops_a_rank_at_once_with_one_line_and_code_143(tmp_path):
    # In a container the trainer is PID 1, which has no default action for SIGTERM: without its handler,
    # `docker stop` or a stopping Docker engine would wait out the stop timeout and SIGKILL it.
    args = [
        *TINY,
        "--epochs",
        "50",
        "--max-steps",
        "100000",
        "--save-every",
        "3",
        "--experiment-name",
        "term",
    ]
    (env,) = rank_envs(1)
    rank = start_rank(env, args, tmp_path)
    _wait_for_snapshot(tmp_path / "experiments" / "term" / "checkpoints" / "rank_0")
    rank.send_signal(signal.SIGTERM)
    out, err = rank.communicate(timeout=120)
    assert rank.returncode == 143
    assert err.strip().splitlines()[-1] == (
        "hetero-train: stopped by SIGTERM (docker stop, or the Docker engine is stopping);"
        " the last snapshot is kept and a rerun resumes from it"
    )
    assert "Traceback" not in err
