"""The embedded default, inventory/local.yml: this machine alone as a 2-rank CPU cluster (read-only runs)."""

from __future__ import annotations

from tests.ansible.playbook import REPO, run_playbook

LOCAL = REPO / "inventory" / "local.yml"


def test_local_machine_plans_two_cpu_ranks_over_loopback(tmp_path):
    result = run_playbook("tests/ansible/playbooks/facts.yml", LOCAL, tmp_path=tmp_path)
    assert result.rc == 0, result.stdout[-3000:]
    assert result.changed("localhost") == 0
    facts = result.results[("Report hardware facts", "localhost")]["msg"]
    assert facts["hetero_host_ranks"] == [
        {"rank": 0, "local_rank": 0, "gpu": None},
        {"rank": 1, "local_rank": 1, "gpu": None},
    ]
    assert int(facts["hetero_world_size"]) == 2 and facts["hetero_image_variant"] == "cpu"
    assert facts["hetero_master_host"] == "localhost" and facts["hetero_master_addr"] == "127.0.0.1"
    assert facts["hetero_cluster_ifname"] == "lo"
    assert facts["groups_cpu"] == ["localhost"]


def test_local_preflight_changes_nothing_and_prints_the_plan(tmp_path):
    result = run_playbook("playbooks/preflight.yml", LOCAL, tmp_path=tmp_path)
    assert result.rc == 0, result.stdout[-3000:]
    assert result.changed("localhost") == 0
    assert "ranks 0,1 of 2" in result.stdout and "master localhost at 127.0.0.1:29500" in result.stdout


def test_local_preflight_refuses_nccl_on_a_cpu_only_machine(tmp_path):
    # What the trainer would refuse once rank 0 started is refused here, from the hardware facts.
    result = run_playbook(
        "playbooks/preflight.yml", LOCAL, tmp_path=tmp_path, extra_vars={"hetero_backend": "nccl"}
    )
    assert result.rc != 0
    assert (
        "hetero_backend: --backend nccl needs a GPU on every rank, but rank(s) 0,1 have none" in result.stdout
    )
    assert result.changed("localhost") == 0


def test_local_preflight_refuses_a_setting_in_the_words_of_the_form(tmp_path):
    result = run_playbook(
        "playbooks/preflight.yml", LOCAL, tmp_path=tmp_path, extra_vars={"hetero_data_dir": "data"}
    )
    assert result.rc != 0
    expected = (
        "hetero_data_dir: must be an absolute path on every host, e.g. /var/lib/hetero-cluster/data"
        " (got 'data')"
    )
    assert expected in result.stdout
    assert result.changed("localhost") == 0
