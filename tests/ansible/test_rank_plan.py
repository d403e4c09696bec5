"""The rank plan (hetero_train/rank_plan.py, through its Ansible filter) as plain Python: no Ansible run."""

from __future__ import annotations

import pytest

from tests.ansible.rank_plan_module import rank_plan

HostSpec, plan_ranks, RankPlanError = rank_plan.HostSpec, rank_plan.plan_ranks, rank_plan.RankPlanError


def host(name, address=None, gpus=0, ranks=None, rank=None, cluster_addr=None):
    return HostSpec(name, address or name, gpus, ranks, rank, cluster_addr)


def ranks_of(plan, name):
    return [r["rank"] for r in plan["hosts"][name]["ranks"]]


def error_of(hosts) -> str:
    with pytest.raises(RankPlanError) as err:
        plan_ranks(hosts)
    message = str(err.value)
    assert "\n" not in message, "errors are one line"
    return message


def test_local_machine_as_two_cpu_ranks():
    plan = plan_ranks([host("localhost", ranks=2)])
    assert plan["world_size"] == 2
    assert plan["master_host"] == "localhost"
    assert plan["hosts"]["localhost"]["ranks"] == [
        {"rank": 0, "local_rank": 0, "gpu": None},
        {"rank": 1, "local_rank": 1, "gpu": None},
    ]


def test_one_rank_per_gpu_and_one_per_cpu_host_in_inventory_order():
    plan = plan_ranks(
        [
            host("desktop", "192.168.1.10", gpus=2),
            host("gpu-box", "192.168.1.11", gpus=1),
            host("laptop", "192.168.1.20"),
            host("wsl", "192.168.1.21"),
        ]
    )
    assert plan["world_size"] == 5
    assert plan["master_host"] == "desktop"
    assert [r["gpu"] for r in plan["hosts"]["desktop"]["ranks"]] == [0, 1]
    assert plan["hosts"]["gpu-box"]["ranks"] == [{"rank": 2, "local_rank": 0, "gpu": 0}]
    assert ranks_of(plan, "laptop") == [3]
    assert ranks_of(plan, "wsl") == [4]


def test_pinned_rank_makes_that_host_the_master_and_the_others_fill_in():
    plan = plan_ranks([host("lap1"), host("lap2"), host("lap3", rank=0)])
    assert plan["master_host"] == "lap3"
    assert [ranks_of(plan, n) for n in ("lap1", "lap2", "lap3")] == [[1], [2], [0]]


def test_pinned_block_in_the_middle():
    plan = plan_ranks([host("a", ranks=2), host("b", rank=2, ranks=2), host("c")])
    assert [ranks_of(plan, n) for n in ("a", "b", "c")] == [[0, 1], [2, 3], [4]]


def test_unpinned_multi_rank_host_takes_the_first_block_it_fits_in():
    plan = plan_ranks([host("a", rank=1), host("b", ranks=2), host("c")])
    assert [ranks_of(plan, n) for n in ("a", "b", "c")] == [[1], [2, 3], [0]]


def test_ranks_given_as_text_from_extra_vars_count():
    plan = plan_ranks([host("a", ranks="3"), host("b", rank="3")])
    assert plan["world_size"] == 4 and ranks_of(plan, "b") == [3]


def test_fewer_ranks_than_gpus_uses_the_first_gpus():
    plan = plan_ranks([host("desktop", gpus=4, ranks=2)])
    assert [r["gpu"] for r in plan["hosts"]["desktop"]["ranks"]] == [0, 1]


def test_duplicate_explicit_ranks_name_both_hosts_and_the_field():
    message = error_of([host("lap1", rank=0), host("lap2", rank=0)])
    assert "lap1" in message and "lap2" in message and "rank 0" in message and "hetero_rank" in message


def test_overlapping_pinned_blocks_are_refused():
    message = error_of([host("a", rank=0, ranks=2), host("b", rank=1)])
    assert "a and b both claim rank 1" in message


def test_gap_in_ranks_names_the_host_and_the_fix():
    message = error_of([host("lap1"), host("lap2"), host("lap3", rank=5)])
    assert "rank 2 is unused" in message and "host lap3" in message and "hetero_rank: 5" in message


def test_one_machine_under_two_names_is_refused():
    message = error_of([host("lap1", "10.77.0.11"), host("lap1-again", "10.77.0.11")])
    assert "lap1 and lap1-again" in message and "10.77.0.11" in message and "hetero_ranks" in message


def test_same_machine_found_by_its_cluster_address():
    message = error_of(
        [
            host("box", "box.lan", cluster_addr="192.168.1.5"),
            host("box-ip", "192.168.1.5", cluster_addr="192.168.1.5"),
        ]
    )
    assert "box and box-ip are the same machine" in message


@pytest.mark.parametrize("bad", ["two", 0, True, -1, 1.5])
def test_bad_rank_count_names_host_and_field(bad):
    message = error_of([host("lap1", ranks=bad)])
    assert message.startswith("host lap1: hetero_ranks: must be a whole number >= 1")


def test_bad_first_rank_names_host_and_field():
    assert error_of([host("lap1", rank="first")]).startswith(
        "host lap1: hetero_rank: must be a whole number >= 0"
    )


def test_more_ranks_than_gpus_on_a_gpu_host_is_refused():
    message = error_of([host("desktop", gpus=1, ranks=2)])
    assert "host desktop: hetero_ranks is 2 but it has 1 GPU(s)" in message


def test_loopback_address_in_a_multi_host_cluster_is_refused():
    message = error_of([host("localhost"), host("lap2", "10.77.0.12")])
    assert "host localhost: ansible_host is 'localhost'" in message and "LAN address" in message


def test_empty_cluster_says_where_hosts_go():
    assert "all.children.cluster.hosts" in error_of([])


def test_filter_reports_a_host_without_facts_as_one_line():
    hostvars = {
        "lap1": {"ansible_host": "10.77.0.11", "hetero_gpu_count": 0},
        "lap2": {"ansible_host": "10.77.0.12"},
    }
    result = rank_plan.hetero_rank_plan(["lap1", "lap2"], hostvars)
    assert result["error"].startswith("host lap2: no hardware facts")


def test_filter_plans_from_hostvars():
    hostvars = {
        "lap1": {"ansible_host": "10.77.0.11", "hetero_gpu_count": 1, "hetero_cluster_addr": "10.77.0.11"},
        "lap2": {"ansible_host": "10.77.0.12", "hetero_gpu_count": 0, "hetero_ranks": 2},
    }
    result = rank_plan.hetero_rank_plan(["lap1", "lap2"], hostvars)
    assert result["world_size"] == 3 and result["master_host"] == "lap1"
    assert rank_plan.FilterModule().filters()["hetero_rank_plan"] is rank_plan.hetero_rank_plan
