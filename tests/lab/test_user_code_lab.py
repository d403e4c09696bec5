"""The worked example (examples/tabular_csv) trained through site.yml on the three lab laptops, the way its
README tells a user to: its settings file, hetero_user_code naming its project and hetero_data_source its
CSV. The image with the code reaches every laptop (by tarball), the data step puts the CSV into
hetero_data_dir, and every rank trains the example's MLP on those rows to the last step."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml

from tests.lab.pipeline import (
    EXPERIMENTS,
    delivery_lab,
    laptop_image_id,
    rank_containers,
    run_playbook,
    snapshot_repo,
)

pytestmark = pytest.mark.lab

EXPERIMENT = f"tabular-{int(time.time())}"
STEPS = 6


@pytest.fixture(scope="module")
def lab(lab):
    """The shared lab, or our own one (HETERO_DELIVERY_OWN_LAB=1; see tests/lab/pipeline.py)."""
    with delivery_lab(lab) as chosen:
        yield chosen


@pytest.fixture
def data_dir(lab):
    """hetero_data_dir of this test's own, in each laptop's private /tmp; removed afterwards."""
    path = f"/tmp/hetero-tabular-{uuid.uuid4().hex[:8]}"
    yield path
    for lap in lab.laptops:
        lab.run(lap.name, f"rm -rf {path}")


def test_the_tabular_example_trains_through_site_yml_on_every_laptop(lab, base_image, tmp_path, data_dir):
    checkout = snapshot_repo(tmp_path / "repo")
    example = checkout / "examples" / "tabular_csv"
    settings = {
        **yaml.safe_load((example / "settings.yml").read_text()),
        "hetero_user_code": str(example / "project"),
        "hetero_data_source": str(example / "data"),
        # A short run of the example's own model and data (a few steps; the README's run has 50).
        "hetero_data_dir": data_dir,
        "hetero_experiment_name": EXPERIMENT,
        "hetero_max_steps": STEPS,
        "hetero_log_every": 1,
        "hetero_save_every": 3,
        "hetero_trainer_wait": True,
        "hetero_trainer_wait_timeout": 900,
    }
    try:
        run = run_playbook("site.yml", lab.inventory, tmp_path / "site", settings, repo=checkout)
        assert run.rc == 0, run.stdout[-4000:]

        shipped = (checkout / "build" / "images" / ".built-cpu-user").read_text().strip()
        for rank, lap in enumerate(lab.laptops):
            assert laptop_image_id(lab, lap.name) == shipped, (
                f"{lap.name} does not run the image with the code"
            )
            assert rank_containers(lab, lap.name) == {f"hetero-rank-{rank}": ("exited", 0)}
            log = lab.docker(lap.name, "logs", f"hetero-rank-{rank}", check=True)
            read = (
                "tabular_csv: 600 rows, classes ['faulty', 'normal', 'worn'], from /workspace/data/train.csv"
            )
            assert read in log.stdout + log.stderr, f"{lap.name}: the example's data set did not read the CSV"
            metrics = lab.run(
                lap.name, f"cat {EXPERIMENTS}/{EXPERIMENT}/logs/rank_{rank}_metrics.json", check=True
            )
            data = json.loads(metrics.stdout)
            config = data["runs"][-1]["config"]
            assert (config["model"], config["dataset"]) == (
                "tabular_csv.models:build_model",
                "tabular_csv.data:build_dataset",
            )
            losses = [step["loss"] for step in data["steps"] if step.get("loss") is not None]
            assert max(step["step"] for step in data["steps"]) == STEPS
            assert losses[-1] < losses[0], f"{lap.name}: the loss did not fall ({losses})"
    finally:
        run_playbook("playbooks/stop.yml", lab.inventory, tmp_path / "stop", repo=checkout)
