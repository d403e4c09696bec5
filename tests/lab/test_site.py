"""The whole pipeline over real SSH to the three lab laptops (CPU quotas 1.0, 0.6 and 0.4), run the way the
worked example's README (examples/tabular_csv) tells a user to: its settings file, hetero_user_code naming
its project and hetero_data_source its CSV. site.yml trains the example to the end on every laptop: the
image with the code reaches every laptop (by tarball), the data step puts the CSV into hetero_data_dir, and
every rank trains the example's MLP on those rows. A second run changes nothing in provision and distribute
and sends no tarball; status.yml reports what each laptop's Docker says; collect.yml brings the experiment
back; stop.yml leaves no rank container. (One pipeline for both: the image ships once per test run.)"""

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
    status_table,
    tx_bytes,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(lab):
    """The shared lab, or our own one (HETERO_DELIVERY_OWN_LAB=1; see tests/lab/pipeline.py)."""
    with delivery_lab(lab) as chosen:
        yield chosen


EXPERIMENT = f"e2e-tabular-{int(time.time())}"
STEPS = 6
READ = "tabular_csv: 600 rows, classes ['faulty', 'normal', 'worn'], from /workspace/data/train.csv"


def ranks(lab):
    """Rank of each laptop: one per CPU laptop, in inventory order."""
    return {lap.name: index for index, lap in enumerate(lab.laptops)}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The working tree frozen for this module: both site.yml runs build the very same sources."""
    return snapshot_repo(tmp_path_factory.mktemp("checkout") / "repo")


@pytest.fixture(scope="module")
def settings(lab, checkout):
    """The example's settings file with its two paths, a short run (the README's has 50 steps), and a
    hetero_data_dir of this module's own in each laptop's private /tmp, removed afterwards."""
    example = checkout / "examples" / "tabular_csv"
    data_dir = f"/tmp/hetero-tabular-{uuid.uuid4().hex[:8]}"
    yield {
        **yaml.safe_load((example / "settings.yml").read_text()),
        "hetero_user_code": str(example / "project"),
        "hetero_data_source": str(example / "data"),
        "hetero_data_dir": data_dir,
        "hetero_experiment_name": EXPERIMENT,
        "hetero_max_steps": STEPS,
        "hetero_log_every": 1,
        "hetero_save_every": 3,
        "hetero_trainer_wait": True,
        "hetero_trainer_wait_timeout": 900,
    }
    for lap in lab.laptops:
        lab.run(lap.name, f"rm -rf {data_dir}")


def shipped(checkout) -> str:
    """The id of the image with the code that distribute last built from `checkout` (its --iidfile)."""
    return (checkout / "build" / "images" / ".built-cpu-user").read_text().strip()


@pytest.fixture(scope="module")
def first_run(lab, base_image, checkout, settings, tmp_path_factory):
    """site.yml from wherever the lab stands (the controller builds the image offline on the base image)."""
    run = run_playbook("site.yml", lab.inventory, tmp_path_factory.mktemp("site-1"), settings, repo=checkout)
    assert run.rc == 0, run.stdout[-4000:]
    return run


@pytest.fixture(scope="module")
def second_run(lab, checkout, settings, first_run, tmp_path_factory):
    """The second site.yml run, and the bytes the controller sent each laptop during it."""
    sent_before = {lap.name: tx_bytes(lab, lap) for lap in lab.laptops}
    # The bytes counted are what crosses each laptop's veth; preflight's link probe sends seconds of real
    # bytes between laptops over the same veths, so it is off for this run (it measured in the first one).
    again = {**settings, "hetero_link_probe_enabled": False}
    run = run_playbook("site.yml", lab.inventory, tmp_path_factory.mktemp("site-2"), again, repo=checkout)
    return run, {lap.name: tx_bytes(lab, lap) - sent_before[lap.name] for lap in lab.laptops}


def test_site_yml_trains_the_example_to_the_end_with_metrics_on_every_laptop(lab, checkout, first_run):
    for name, rank in ranks(lab).items():
        assert laptop_image_id(lab, name) == shipped(checkout), f"{name} does not run the image with the code"
        assert rank_containers(lab, name) == {f"hetero-rank-{rank}": ("exited", 0)}
        log = lab.docker(name, "logs", f"hetero-rank-{rank}", check=True)
        assert READ in log.stdout + log.stderr, f"{name}: the example's data set did not read the CSV"
        metrics = lab.run(name, f"cat {EXPERIMENTS}/{EXPERIMENT}/logs/rank_{rank}_metrics.json", check=True)
        data = json.loads(metrics.stdout)
        assert data["rank"] == rank
        config = data["runs"][-1]["config"]
        assert (config["model"], config["dataset"]) == (
            "tabular_csv.models:build_model",
            "tabular_csv.data:build_dataset",
        )
        losses = [step["loss"] for step in data["steps"] if step.get("loss") is not None]
        assert max(step["step"] for step in data["steps"]) == STEPS
        assert losses[-1] < losses[0], f"{name}: the loss did not fall ({losses})"
        checkpoints = lab.run(name, f"ls {EXPERIMENTS}/{EXPERIMENT}/checkpoints", check=True).stdout
        assert checkpoints.strip(), f"{name}: no snapshot written"


def test_a_second_site_run_changes_nothing_in_provision_and_distribute_and_sends_no_tarball(lab, second_run):
    second_run, sent = second_run
    assert second_run.rc == 0, second_run.stdout[-4000:]
    hosts = [lap.name for lap in lab.laptops]
    for play in ("Provision", "Distribute"):
        changed = second_run.changed_in(play)
        assert {h: changed.get(h, 0) for h in hosts} == dict.fromkeys(hosts, 0), second_run.changed_tasks(
            play
        )
    for host in hosts:
        assert second_run.statuses("image : Copy the tarball", host) == ["skipped"]
        # SSH traffic of a whole site.yml run is a few MB; the CPU image tarball is about 300 MB.
        assert sent[host] < 20_000_000, f"{sent[host]} bytes sent to {host}"


def test_status_reports_what_each_laptops_docker_says(lab, checkout, settings, second_run, tmp_path):
    run = run_playbook("playbooks/status.yml", lab.inventory, tmp_path / "status", settings, repo=checkout)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.changed_in("Status") == dict.fromkeys([lap.name for lap in lab.laptops], 0)
    table = status_table(run.stdout)
    for lap in lab.laptops:
        line = table[lap.name]
        truth = rank_containers(lab, lap.name)
        assert truth, f"{lap.name} should still hold its finished rank container"
        for name, (state, code) in truth.items():
            assert f"{name} {state}({code})" in line
        assert f"cpu {laptop_image_id(lab, lap.name)[7:19]} =controller" in line
        assert laptop_image_id(lab, lap.name) == shipped(checkout)


def test_collect_brings_the_experiment_back_from_every_laptop(lab, checkout, second_run, tmp_path):
    dest = tmp_path / "experiments"
    run = run_playbook(
        "playbooks/collect.yml",
        lab.inventory,
        tmp_path / "collect",
        {"hetero_experiment_name": EXPERIMENT, "hetero_collect_dir": str(dest)},
        repo=checkout,
    )
    assert run.rc == 0, run.stdout[-3000:]
    for name, rank in ranks(lab).items():
        local = dest / EXPERIMENT / name / "logs" / f"rank_{rank}_metrics.json"
        remote = lab.run(name, f"cat {EXPERIMENTS}/{EXPERIMENT}/logs/rank_{rank}_metrics.json", check=True)
        assert json.loads(local.read_text()) == json.loads(remote.stdout)
        assert list((dest / EXPERIMENT / name / "checkpoints" / f"rank_{rank}").iterdir()), (
            f"{name}: no snapshot"
        )
    master = dest / EXPERIMENT / lab.laptops[0].name
    assert (master / "configs" / "gpu_profiles.json").exists() and (
        master / "checkpoints" / "final.pt"
    ).exists()

    # Collecting again over a file the user edited keeps the edit beside the fresh copy.
    edited = dest / EXPERIMENT / lab.laptops[0].name / "configs" / "gpu_profiles.json"
    edited.write_text("my notes\n")
    again = run_playbook(
        "playbooks/collect.yml",
        lab.inventory,
        tmp_path / "collect-2",
        {"hetero_experiment_name": EXPERIMENT, "hetero_collect_dir": str(dest)},
        repo=checkout,
    )
    assert again.rc == 0, again.stdout[-3000:]
    backups = list(edited.parent.glob("gpu_profiles.json.*~"))
    assert [b.read_text() for b in backups] == ["my notes\n"]
    assert edited.read_text() != "my notes\n"


def test_stop_leaves_no_rank_container_and_status_says_so(lab, checkout, second_run, tmp_path):
    run = run_playbook("playbooks/stop.yml", lab.inventory, tmp_path / "stop", repo=checkout)
    assert run.rc == 0, run.stdout[-3000:]
    for lap in lab.laptops:
        assert rank_containers(lab, lap.name) == {}
    status = run_playbook("playbooks/status.yml", lab.inventory, tmp_path / "status", repo=checkout)
    table = status_table(status.stdout)
    for lap in lab.laptops:
        assert table[lap.name].endswith("no rank containers")
