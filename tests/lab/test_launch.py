"""Launch as a user meets it: launch.yml run alone (no preflight) with a setting the trainer rejects stops
at rank 0, with the trainer's own message, and no other rank is started anywhere; a laptop behind a slow
link is left out by the product's defaults, and status.yml says so."""

from __future__ import annotations

import json

import pytest

from tests.lab.pipeline import (
    EXPERIMENTS,
    TINY_TRAINING,
    delivery_lab,
    rank_containers,
    run_playbook,
    snapshot_repo,
    status_table,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(lab):
    """The shared lab, or our own one (HETERO_DELIVERY_OWN_LAB=1; see tests/lab/pipeline.py)."""
    with delivery_lab(lab) as chosen:
        yield chosen


def test_a_setting_the_trainer_rejects_stops_the_launch_at_rank_0_with_its_message(lab, base_image, tmp_path):
    settings = {**TINY_TRAINING, "hetero_experiment_name": "bad-input", "hetero_model": "no_such_model"}
    checkout = snapshot_repo(tmp_path / "repo")
    try:
        for step in ("provision", "distribute"):
            ready = run_playbook(f"playbooks/{step}.yml", lab.inventory, tmp_path / step, repo=checkout)
            assert ready.rc == 0, ready.stdout[-3000:]
        # site.yml's preflight would refuse the typo; launch.yml alone meets it at rank 0.
        run = run_playbook(
            "playbooks/launch.yml", lab.inventory, tmp_path / "launch", settings, repo=checkout
        )

        assert run.rc != 0
        master = lab.laptops[0].name
        assert run.failures() == [("trainer : Stop when rank 0 does not listen", master)], run.stdout[-3000:]
        assert f"hetero-rank-0 on {master} is not listening" in run.stdout
        assert (
            "--model: choose one of simple_cnn, resnet18, resnet50, or your own module:callable"
            " (got 'no_such_model')" in run.stdout
        )
        for lap in lab.laptops[1:]:
            assert rank_containers(lab, lap.name) == {}, f"{lap.name} started a rank"
    finally:
        run_playbook("playbooks/stop.yml", lab.inventory, tmp_path / "stop", repo=checkout)


def test_a_laptop_behind_a_slow_link_is_left_out_and_status_says_so(lab, base_image, tmp_path):
    """The product's defaults on real containers: lap2's link shaped to 5 Mbit/s makes each all-reduce of
    simple_cnn's gradients cost seconds. At the first forecast the planner leaves rank 1 (lap2) out: its
    container exits 0 with the one line, rank 0 trains to the end, and status.yml shows every left-out
    container as such. For so tiny a job lap3 (0.4 CPU) may be left out too, rightly: rank 0 alone is then
    predicted faster; that the planner tells whose link is slow is tests/unit/test_costmodel.py's."""
    settings = {**TINY_TRAINING, "hetero_experiment_name": "left-out", "hetero_max_steps": 8,
                "hetero_rebalance_every": 2}  # fmt: skip
    checkout = snapshot_repo(tmp_path / "repo")
    names = [lap.name for lap in lab.laptops]
    try:
        for step in ("provision", "distribute"):
            ready = run_playbook(f"playbooks/{step}.yml", lab.inventory, tmp_path / step, repo=checkout)
            assert ready.rc == 0, ready.stdout[-3000:]
        with lab.shaped({names[1]: "5mbit"}):
            run = run_playbook(
                "playbooks/launch.yml", lab.inventory, tmp_path / "launch", settings, repo=checkout
            )
        assert run.rc == 0, run.stdout[-3000:]
        for rank, name in enumerate(names):
            assert rank_containers(lab, name) == {f"hetero-rank-{rank}": ("exited", 0)}
        status = run_playbook("playbooks/status.yml", lab.inventory, tmp_path / "status", repo=checkout)
        table = status_table(status.stdout)
        left = [name for name in names if "left out(0)" in table[name]]
        assert names[1] in left and names[0] not in left, table
        for rank, name in enumerate(names):
            assert f"hetero-rank-{rank} {'left out' if name in left else 'exited'}(0)" in table[name]
        log = lab.docker(names[1], "logs", "hetero-rank-1", check=True)
        lines = [line for line in log.stderr.splitlines() if " left out: " in line]
        assert len(lines) == 1 and lines[0].startswith(f"hetero-train: rank 1 ({names[1]}) left out: ")
        metrics = lab.run(names[0], f"cat {EXPERIMENTS}/left-out/logs/rank_0_metrics.json", check=True)
        record = json.loads(metrics.stdout)["runs"][-1]
        assert [w["ranks"] for w in record["worlds"]] == [[r for r, n in enumerate(names) if n not in left]]
        assert max(s["step"] for s in json.loads(metrics.stdout)["steps"]) == 8
    finally:
        run_playbook("playbooks/stop.yml", lab.inventory, tmp_path / "stop", repo=checkout)
