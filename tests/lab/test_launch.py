"""Launch failures a user meets: a setting the trainer rejects stops the launch at rank 0, with the trainer's
own message, and no other rank is started anywhere."""

from __future__ import annotations

import pytest

from tests.lab.pipeline import TINY_TRAINING, rank_containers, run_playbook

pytestmark = pytest.mark.lab


def test_a_setting_the_trainer_rejects_stops_the_launch_at_rank_0_with_its_message(lab, tmp_path):
    assert run_playbook("playbooks/distribute.yml", lab.inventory, tmp_path / "distribute").rc == 0
    settings = {**TINY_TRAINING, "hetero_experiment_name": "bad-input", "hetero_model": "no_such_model"}
    try:
        run = run_playbook("playbooks/launch.yml", lab.inventory, tmp_path / "launch", settings)

        assert run.rc != 0
        assert "hetero-rank-0 on lap1 is not listening" in run.stdout
        assert "invalid choice: 'no_such_model'" in run.stdout
        for lap in lab.laptops[1:]:
            assert rank_containers(lab, lap.name) == {}, f"{lap.name} started a rank"
    finally:
        run_playbook("playbooks/stop.yml", lab.inventory, tmp_path / "stop")
