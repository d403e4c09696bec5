"""Host state service: what a run's results say about each host."""

from __future__ import annotations

from hetero_tui.services.events import HostResult
from hetero_tui.services.hoststate import STATUS_FACT, ContainerState, HostStates


def _result(task: str, host: str, status: str = "ok", **res) -> HostResult:
    return HostResult("Status", "p1", task, f"t-{task}", host, status, 0.1, res)


def _status(host: str, task: str = "Summarise this host", **status) -> HostResult:
    """A set_fact result of playbooks/status.yml: the host's `hetero_status` (whatever the task's title)."""
    fact = {"docker": None, "variant": "cpu", "image": None, "controller_image": None, "containers": []}
    return _result(task, host, ansible_facts={STATUS_FACT: {**fact, **status}})


def test_status_results_fill_docker_image_and_containers():
    states = HostStates()
    # the exact shape of playbooks/status.yml's hetero_status fact
    containers = [
        {"name": "hetero-rank-0", "state": "running", "exit_code": 0, "restarts": 0},
        {"name": "hetero-rank-1", "state": "exited", "exit_code": 2, "restarts": 3},
    ]
    states.apply(
        _status("lap1", docker="20.10.24+dfsg1", image="sha256:0123456789abcdef0123", containers=containers)
    )
    states.apply(_status("lap2", task="Any other title"))
    lap1, lap2 = states.hosts["lap1"], states.hosts["lap2"]
    assert (lap1.reachable, lap1.docker, lap1.image) == (True, "20.10.24+dfsg1", "0123456789ab")
    assert lap1.containers == [
        ContainerState("hetero-rank-0", "running", 0, 0),
        ContainerState("hetero-rank-1", "exited", 2, 3),
    ]
    assert (lap2.docker, lap2.image, lap2.containers) == ("down", "missing", [])


def test_hardware_facts_give_gpus_ranks_and_master():
    states = HostStates()
    facts = {
        "hetero_gpu_count": 2,
        "hetero_host_ranks": [{"rank": 0, "local_rank": 0, "gpu": 0}, {"rank": 1, "local_rank": 1, "gpu": 1}],
        "hetero_master_host": "desktop",
        "unrelated_fact": 1,
    }
    states.apply(_result("Record the rank plan", "desktop", ansible_facts=facts))
    states.apply(_result("Record the rank plan", "laptop", ansible_facts={"hetero_gpu_count": 0}))
    desktop = states.hosts["desktop"]
    assert (desktop.gpu_count, desktop.ranks, desktop.is_master) == (2, [0, 1], True)
    assert "unrelated_fact" not in desktop.facts
    assert states.gpu_counts() == {"desktop": 2, "laptop": 0}
    assert list(states.rank_facts()) == ["desktop"]


def test_unreachable_and_failed_hosts_keep_the_reason():
    states = HostStates()
    states.apply(
        _result("Gather", "ghost", "unreachable", msg="Failed to connect to the host via ssh: refused")
    )
    states.apply(_result("Ask", "lap1", "failed", msg="docker: command not found\nmore"))
    states.apply(_result("Skipped", "lap3", "skipped"))
    assert (states.hosts["ghost"].reachable, states.hosts["ghost"].error) == (
        False,
        "Failed to connect to the host via ssh: refused",
    )
    assert (states.hosts["lap1"].reachable, states.hosts["lap1"].error) == (True, "docker: command not found")
    assert states.hosts["lap3"].reachable is None  # a skip says nothing about the host


def test_image_is_current_when_it_matches_the_controllers_image_of_its_variant():
    states = HostStates()
    # no GPU image built on this controller: gpu-box's status names none
    for host, image in (("lap1", "sha256:aaaaaaaaaaaa1111"), ("lap2", "sha256:bbbbbbbbbbbb2222")):
        states.apply(_result("Record the rank plan", host, ansible_facts={"hetero_image_variant": "cpu"}))
        states.apply(_status(host, docker="28.0", image=image, controller_image="sha256:aaaaaaaaaaaa1111"))
    states.apply(_result("Record the rank plan", "gpu-box", ansible_facts={"hetero_image_variant": "gpu"}))
    states.apply(_status("gpu-box", docker="28.0", variant="gpu", image="sha256:cccccccccccc"))
    assert states.image_current("lap1") is True
    assert states.image_current("lap2") is False
    assert states.image_current("gpu-box") is None  # nothing to compare with
    assert states.image_current("nowhere") is None


def test_a_left_out_rank_shows_as_left_out_with_the_trainers_reason():
    states = HostStates()
    why = (
        "rank 1 (lap2) left out: its link adds 1.30 s per step and its compute saves 0.20 s; the cluster is"
        " faster without it (a larger hetero_global_batch_size gives its compute more to save)"
    )
    # status.yml's shape: the container exited 0 like a finished rank; left_out is the line from its log
    containers = [
        {"name": "hetero-rank-1", "state": "exited", "exit_code": 0, "restarts": 0, "left_out": why},
        {"name": "hetero-rank-2", "state": "exited", "exit_code": 0, "restarts": 0, "left_out": None},
    ]
    states.apply(_status("lap2", docker="28.0", containers=containers))
    left, done = states.hosts["lap2"].containers
    assert (left.shown, left.left_out, left.exit_code) == ("left out", why, 0)
    assert (done.shown, done.left_out) == ("exited", None)
    # an older status.yml's fact (no left_out key) still reads
    states.apply(_status("lap3", docker="28.0", containers=[{"name": "hetero-rank-3", "state": "running"}]))
    assert states.hosts["lap3"].containers == [ContainerState("hetero-rank-3", "running", None, 0)]
    # a left-out rank 0 idles on while the others use its store: Docker says running, the user sees left out
    idle = ContainerState("hetero-rank-0", "running", 0, 0, "rank 0 (lap1) left out: its link adds ...")
    assert idle.shown == "left out"
