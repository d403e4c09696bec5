"""playbooks/swarm.yml on the lab: a swarm (master = manager, the other laptops workers), an attachable
overlay network, the ranks as one stack placed on their inventory hosts, a real tiny training over the
overlay; then hetero_swarm_state=absent takes it all down. Join tokens never appear in the output."""

from __future__ import annotations

import pytest

from tests.lab.pipeline import run_playbook

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1800)]

EXPERIMENT = "swarm-lab-test"
RUN = {
    "hetero_swarm_wait": True,
    "hetero_swarm_wait_timeout": 900,
    "hetero_max_steps": 3,
    "hetero_experiment_name": EXPERIMENT,
}


def swarm_state(lab, laptop: str) -> str:
    return lab.docker(laptop, "info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def test_ranks_train_as_a_swarm_stack_over_the_overlay_network(int_lab, trainer_image, tmp_path):
    lab, master = int_lab, int_lab.laptops[0].name
    for lap in lab.laptops:
        lab.load_image(lap.name, trainer_image)
        lab.run(lap.name, f"rm -rf /var/lib/hetero-cluster/experiments/{EXPERIMENT}")
    try:
        run = run_playbook("playbooks/swarm.yml", lab.inventory, tmp_path / "up", RUN)
        assert run.rc == 0, run.stdout[-4000:]
        tokens = [
            lab.docker(master, "swarm", "join-token", "--quiet", role, check=True).stdout.strip()
            for role in ("worker", "manager")
        ]
        nodes = lab.docker(master, "node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}", check=True)
        network = lab.docker(
            master, "network", "inspect", "--format", "{{.Driver}} {{.Attachable}} {{.Scope}}", "hetero-net"
        )
        placed = {
            rank: lab.docker(
                master, "service", "ps", "--format", "{{.Node}} {{.CurrentState}}", f"hetero_rank-{rank}"
            ).stdout.split()[:2]
            for rank in range(len(lab.laptops))
        }
        logs = {
            lap.name: lab.run(
                lap.name, f"ls /var/lib/hetero-cluster/experiments/{EXPERIMENT}/logs"
            ).stdout.split()
            for lap in lab.laptops
        }
    finally:
        down = run_playbook(
            "playbooks/swarm.yml", lab.inventory, tmp_path / "down", {"hetero_swarm_state": "absent"}
        )
    for token in tokens:
        assert token.startswith("SWMTKN-") and token not in run.stdout and token not in down.stdout
    others = [lap.name for lap in lab.laptops[1:]]
    assert sorted(line.strip() for line in nodes.stdout.splitlines()) == [f"{master} Leader", *others]
    assert network.stdout.split() == ["overlay", "true", "swarm"]
    # Rank r runs on the r-th laptop (the rank plan); every rank completed and wrote its metrics there.
    for rank, lap in enumerate(lab.laptops):
        assert placed[rank][0] == lap.name and placed[rank][1] == "Complete", placed
        assert logs[lap.name] == [f"rank_{rank}_metrics.json"]
    assert down.rc == 0, down.stdout[-3000:]
    assert [swarm_state(lab, lap.name) for lap in lab.laptops] == ["inactive"] * len(lab.laptops)
