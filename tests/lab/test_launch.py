"""Launch as a user meets it: launch.yml run alone (no preflight) with a setting the trainer rejects stops
at rank 0, with the trainer's own message, and no other rank is started anywhere."""

from __future__ import annotations

import pytest

from tests.lab.pipeline import (
    TINY_TRAINING,
    delivery_lab,
    rank_containers,
    run_playbook,
    snapshot_repo,
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
