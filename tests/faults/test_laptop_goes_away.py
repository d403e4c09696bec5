"""A laptop goes away mid-training (its link is cut): the other rank stops waiting after the configured
collective timeout, says so in one line, keeps its snapshots and is restarted by Docker to wait at the
rendezvous; when the link is back the job resumes from the newest common snapshot by itself and ends with the
weights of an uninterrupted run. Stop-and-resume, not elastic: see README, "When things go wrong"."""

from __future__ import annotations

import io
import subprocess
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
    playbook,
    recomputed_per_resume,
    relative_difference,
    state,
    wait_until,
)

pytestmark = pytest.mark.lab

SAVE_EVERY = 5
COLLECTIVE_TIMEOUT_S = 20  # short, so the test is; the inventory's default is 600
TRAINING = {
    "hetero_max_steps": 60,
    "hetero_save_every": SAVE_EVERY,
    "hetero_global_batch_size": 24,
    "hetero_batch_size": 8,
    "hetero_dataset_size": 1440,
    "hetero_log_every": 1,
    "hetero_collective_timeout": COLLECTIVE_TIMEOUT_S,
}
# The survivor must stop within the configured timeout; the slack covers a loaded machine and never
# stands for a speed requirement.
STOP_BOUND_S = COLLECTIVE_TIMEOUT_S + 240


def lost_lines(lab, laptop: str, container: str) -> list[str]:
    err = lab.docker(laptop, "logs", container).stderr
    return [line for line in err.splitlines() if line.startswith("hetero-train: rank") and " lost " in line]


def link(laptop, up: bool) -> None:
    """Cut or restore the laptop's only cable: the machine's side of its veth pair."""
    subprocess.run(["ip", "link", "set", laptop.host_veth, "up" if up else "down"], check=True)


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


def test_a_laptop_whose_link_is_cut_stops_the_survivor_cleanly_and_the_job_resumes_when_it_returns(cluster):
    lab, inventory = cluster
    master, away = lab.laptops[0], lab.laptops[1]
    tag = uuid.uuid4().hex[:6]
    reference, faulty = f"ref-away-{tag}", f"away-{tag}"

    run = playbook(
        inventory,
        "launch.yml",
        {**TRAINING, "hetero_experiment_name": reference, "hetero_trainer_wait": True},
    )
    assert run.returncode == 0, run.stdout[-3000:]

    run = playbook(inventory, "launch.yml", {**TRAINING, "hetero_experiment_name": faulty})
    assert run.returncode == 0, run.stdout[-3000:]
    wait_until(
        "rank 0's step 12", lambda: last_step(lab, master.name, "hetero-rank-0") >= 12, HANG_GUARD_S, 0.5
    )
    link(away, up=False)
    try:
        # The survivor stops waiting: one clear line, exit 3, and Docker restarts it.
        def survivor_restarted():
            return (
                lost_lines(lab, master.name, "hetero-rank-0")
                and state(lab, master.name, "hetero-rank-0").get("restarts", 0) >= 1
            )

        wait_until("rank 0 to give up on rank 1 and be restarted", survivor_restarted, STOP_BOUND_S)
        (line,) = lost_lines(lab, master.name, "hetero-rank-0")
        assert line.startswith("hetero-train: rank 0: lost rank 1 ")
        assert f"no answer within the {COLLECTIVE_TIMEOUT_S} s collective timeout" in line
        assert "snapshots up to step " in line and "Exiting with code 3" in line
        assert "site.yml --tags launch" in line
        lost = events(lab, master.name, "hetero-rank-0", "peer_lost")
        assert len(lost) == 1 and lost[0]["exit_code"] == 3
        assert f"snapshots up to step {lost[0]['snapshot_step']} " in line

        # The laptop that went away also stopped its rank the same way (it lost rank 0).
        wait_until(
            "rank 1 to give up on rank 0", lambda: lost_lines(lab, away.name, "hetero-rank-1"), STOP_BOUND_S
        )
        assert lost_lines(lab, away.name, "hetero-rank-1")[0].startswith("hetero-train: rank 1: lost rank 0 ")

        # Snapshots are intact on every laptop while the link is down.
        for rank, laptop in enumerate([master, away]):
            held = snapshots_intact(lab, laptop.name, rank, faulty)
            assert held and held[-1] >= 10, (laptop.name, held)
    finally:
        link(away, up=True)

    # Back on the network: the job resumes by itself and completes.
    def finished():
        return all(
            state(lab, lap.name, f"hetero-rank-{r}").get("status") == "exited"
            for r, lap in enumerate([master, away])
        )

    wait_until("both ranks to finish", finished, HANG_GUARD_S, 2)
    for rank, laptop in enumerate([master, away]):
        final = state(lab, laptop.name, f"hetero-rank-{rank}")
        logs = lab.docker(laptop.name, "logs", "--tail", "20", f"hetero-rank-{rank}").stderr
        assert final["exit_code"] == 0 and final["restarts"] >= 1, (laptop.name, final, logs)
        rank_events = events(lab, laptop.name, f"hetero-rank-{rank}")
        assert rank_events[-1]["event"] == "done"
        resumes = [e for e in rank_events if e["event"] == "resume"]
        assert resumes and resumes[-1]["step"] >= 10, resumes
        assert all(0 <= n <= SAVE_EVERY for n in recomputed_per_resume(rank_events))

    difference = relative_difference(
        final_weights(lab, master.name, faulty), final_weights(lab, master.name, reference)
    )
    assert difference <= 1e-5
