"""A laptop goes away mid-training - its link is cut, or its Docker engine is stopped: the other rank stops
waiting (after the configured collective timeout for a silent peer, at once for a closed connection), says so
in one line, keeps its snapshots and is restarted by Docker to wait at the rendezvous; when the laptop is back
the job resumes from the newest common snapshot by itself and ends with the weights of an uninterrupted run.
Stop-and-resume, not elastic: see docs/troubleshooting.md."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
import torch

from tests.faults.rank_faults import (
    EXPERIMENTS,
    HANG_GUARD_S,
    events,
    final_weights,
    last_step,
    link,
    playbook,
    recomputed_per_resume,
    relative_difference,
    start_docker,
    state,
    stop_docker,
    wait_until,
)

pytestmark = pytest.mark.lab

SAVE_EVERY = 5
COLLECTIVE_TIMEOUT_S = 20  # short, so the test is; the inventory's default is 600
TRAINING = {
    "hetero_max_steps": 120,
    "hetero_save_every": SAVE_EVERY,
    "hetero_global_batch_size": 24,
    "hetero_batch_size": 8,
    "hetero_dataset_size": 2880,  # 120 steps: a stopping engine takes ~12 s to end its ranks
    "hetero_log_every": 1,
    "hetero_collective_timeout": COLLECTIVE_TIMEOUT_S,
    # Fixed shares: re-planned ones follow measured speeds, so two runs would split steps differently and
    # their float sums drift apart (3e-5 over 120 steps) however exact each step is.
    "hetero_balance_policy": "none",
    # One arithmetic for both runs: auto follows a timing probe (bf16 where a CPU runs it faster).
    "hetero_precision": "fp32",
}
# The survivor must stop within the configured timeout; the slack covers a loaded machine and never
# stands for a speed requirement.
STOP_BOUND_S = COLLECTIVE_TIMEOUT_S + 240


def lost_lines(lab, laptop: str, container: str) -> list[str]:
    err = lab.docker(laptop, "logs", container).stderr
    return [line for line in err.splitlines() if line.startswith("hetero-train: rank") and " lost " in line]


def snapshots_intact(lab, laptop: str, rank: int, experiment: str) -> list[int]:
    """The snapshot steps this rank holds; each must pass the CRC check and load."""
    directory = f"{EXPERIMENTS}/{experiment}/checkpoints/rank_{rank}"
    names = lab.run(laptop, ["ls", directory], check=True).stdout.split()
    steps = []
    for name in names:
        assert name.startswith("step_") and name.endswith(".pt"), (laptop, names)  # no temp, no .corrupt
        data = lab.run(laptop, ["cat", f"{directory}/{name}"], check=True, input=b"").stdout
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.testzip() is None, (laptop, name)
        state_ = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
        steps.append(state_["step"])
    return sorted(steps)


@pytest.fixture(scope="module")
def reference(cluster) -> str:
    """An uninterrupted run of the same training: the weights a recovered job must end with."""
    _, inventory = cluster
    name = f"ref-away-{uuid.uuid4().hex[:6]}"
    extra = {**TRAINING, "hetero_experiment_name": name, "hetero_trainer_wait": True}
    run = playbook(inventory, "launch.yml", extra)
    assert run.returncode == 0, run.stdout[-3000:]
    return name


def launch_and_reach_step_12(lab, inventory, master) -> str:
    name = f"away-{uuid.uuid4().hex[:6]}"
    run = playbook(inventory, "launch.yml", {**TRAINING, "hetero_experiment_name": name})
    assert run.returncode == 0, run.stdout[-3000:]
    wait_until(
        "rank 0's step 12", lambda: last_step(lab, master.name, "hetero-rank-0") >= 12, HANG_GUARD_S, 0.5
    )
    return name


def survivors_line(lab, master) -> str:
    """Wait (bounded) until rank 0 printed ONE line about the lost peer and Docker restarted it; that line."""

    def restarted() -> bool:
        lost = lost_lines(lab, master.name, "hetero-rank-0")
        return bool(lost) and state(lab, master.name, "hetero-rank-0").get("restarts", 0) >= 1

    wait_until("rank 0 to give up on rank 1 and be restarted", restarted, STOP_BOUND_S)
    (line,) = lost_lines(lab, master.name, "hetero-rank-0")
    return line


def assert_snapshots_intact(lab, laptops, experiment: str) -> None:
    for rank, laptop in enumerate(laptops):
        held = snapshots_intact(lab, laptop.name, rank, experiment)
        assert held and held[-1] >= 10, (laptop.name, held)


def assert_resumed_to_the_reference(lab, master, away, faulty: str, reference: str) -> None:
    """Both ranks finish (exit 0) after resuming from a snapshot, with the uninterrupted run's weights."""

    def finished():
        ranks = enumerate([master, away])
        return all(state(lab, lap.name, f"hetero-rank-{r}").get("status") == "exited" for r, lap in ranks)

    wait_until("both ranks to finish", finished, HANG_GUARD_S, 2)
    for rank, laptop in enumerate([master, away]):
        final = state(lab, laptop.name, f"hetero-rank-{rank}")
        logs = lab.docker(laptop.name, "logs", "--tail", "20", f"hetero-rank-{rank}").stderr
        assert final["exit_code"] == 0, (laptop.name, final, logs)
        rank_events = events(lab, laptop.name, f"hetero-rank-{rank}")
        assert rank_events[-1]["event"] == "done"
        resumes = [e for e in rank_events if e["event"] == "resume"]
        assert resumes and resumes[-1]["step"] >= 10, resumes
        assert all(0 <= n <= SAVE_EVERY for n in recomputed_per_resume(rank_events))
    faulty_weights = final_weights(lab, master.name, faulty)
    assert relative_difference(faulty_weights, final_weights(lab, master.name, reference)) <= 1e-5


def test_a_laptop_whose_link_is_cut_stops_the_survivor_cleanly_and_the_job_resumes_when_it_returns(
    cluster, reference
):
    lab, inventory = cluster
    master, away = lab.laptops[0], lab.laptops[1]
    faulty = launch_and_reach_step_12(lab, inventory, master)
    link(away, up=False)
    try:
        # The survivor stops waiting: one clear line, exit 3, and Docker restarts it.
        line = survivors_line(lab, master)
        assert line.startswith(f"hetero-train: rank 0: lost rank 1 ({away.name}) during step ")
        assert f"no answer within the {COLLECTIVE_TIMEOUT_S} s collective timeout" in line
        assert "Exiting with code 3" in line and "site.yml --tags launch" in line
        lost = events(lab, master.name, "hetero-rank-0", "peer_lost")
        assert len(lost) == 1 and lost[0]["exit_code"] == 3
        assert f"snapshots up to step {lost[0]['snapshot_step']} are kept in " in line

        # The laptop that went away stopped its rank the same way (to it, rank 0 went silent).
        wait_until(
            "rank 1 to give up on rank 0", lambda: lost_lines(lab, away.name, "hetero-rank-1"), STOP_BOUND_S
        )
        assert lost_lines(lab, away.name, "hetero-rank-1")[0].startswith("hetero-train: rank 1: lost rank 0 ")

        assert_snapshots_intact(lab, [master, away], faulty)  # on every laptop, link down
    finally:
        link(away, up=True)

    # Back on the network: the job resumes by itself (Docker restarted both ranks) and completes.
    assert_resumed_to_the_reference(lab, master, away, faulty, reference)
    for rank, laptop in enumerate([master, away]):
        assert state(lab, laptop.name, f"hetero-rank-{rank}")["restarts"] >= 1


def test_a_laptop_whose_docker_engine_stops_stops_the_survivor_and_the_job_resumes_when_it_restarts(
    cluster, reference
):
    lab, inventory = cluster
    master, away = lab.laptops[0], lab.laptops[1]
    faulty = launch_and_reach_step_12(lab, inventory, master)
    stop_docker(lab, away)  # returns once the engine is gone; it ended rank 1 first (SIGTERM, then SIGKILL)
    try:
        # The peer's connection closed: the survivor stops at its next collective, no timeout to wait out.
        line = survivors_line(lab, master)
        assert line.startswith(
            f"hetero-train: rank 0: lost rank 1 ({away.name}) at {away.address} during step "
        )
        assert "its connection dropped" in line and "Exiting with code 3" in line
        assert_snapshots_intact(lab, [master, away], faulty)  # the engine-less laptop's too
    finally:
        start_docker(lab, away)

    away_err = lab.docker(away.name, "logs", "hetero-rank-1").stderr  # the engine is back: its logs too
    assert "hetero-train: stopped by SIGTERM (docker stop, or the Docker engine is stopping)" in away_err

    # The engine restarts rank 1 by itself: a daemon shutdown is not a manual stop, so on-failure applies
    # (Docker 20.10; counted as a start, not in RestartCount). The job resumes and completes.
    assert_resumed_to_the_reference(lab, master, away, faulty, reference)
