"""Runner service: real ansible-runner runs (localhost with connection local, and the lab over SSH)."""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

import pytest
from hetero_tui.services.events import HostResult, HostStarted, Output, PlayStarted, RunFinished, TaskStarted
from hetero_tui.services.history import load_run, past_runs
from hetero_tui.services.hoststate import HostStates
from hetero_tui.services.runner import PlaybookRun, run_playbook

SECRET = "hunter2-not-for-screens"
BECOME_PASSWORD = "sudo-pw-not-for-screens"

TINY = f"""
- name: Tiny play
  hosts: cluster
  gather_facts: false
  tasks:
    - name: Say ok
      ansible.builtin.debug:
        msg: hello
    - name: Change something
      ansible.builtin.command: "true"
    - name: Keep a secret
      ansible.builtin.set_fact:
        hidden: {SECRET}
      no_log: true
    - name: Show a password by mistake
      ansible.builtin.debug:
        msg:
          db_password: {SECRET}
    - name: Skip me
      ansible.builtin.debug:
        msg: never
      when: false
    - name: Fail but ignore
      ansible.builtin.command: "false"
      ignore_errors: true
    - name: Become root
      ansible.builtin.command: id -u
      become: true
      changed_when: false
"""

LONG = """
- name: Long play
  hosts: cluster
  gather_facts: false
  tasks:
    - name: Sleep a long time
      ansible.builtin.command: sleep 300
"""


def _inventory(tmp_path: Path, unreachable: bool = False) -> Path:
    ghost = (
        # a closed port on this machine's loopback: SSH fails at once, the host is unreachable
        "        ghost:\n          ansible_host: 127.0.0.1\n          ansible_port: 1\n"
        if unreachable
        else ""
    )
    path = tmp_path / "inventory.yml"
    path.write_text(
        "all:\n  children:\n    cluster:\n      hosts:\n        localhost:\n"
        "          ansible_connection: local\n"
        '          ansible_python_interpreter: "{{ ansible_playbook_python }}"\n' + ghost
    )
    return path


def _playbook(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real run of the tiny playbook (localhost + an unreachable host), with a become password."""
    tmp_path = tmp_path_factory.mktemp("tiny")
    events = []
    run = PlaybookRun(
        _playbook(tmp_path, "tiny", TINY),
        _inventory(tmp_path, unreachable=True),
        events.append,
        become_password=BECOME_PASSWORD,
        artifacts=tmp_path / "artifacts",
    ).start()
    finished = run.wait(300)
    return run, events, finished


def test_events_arrive_in_order_and_end_with_one_run_finished(tiny_run):
    run, events, finished = tiny_run
    assert isinstance(finished, RunFinished) and finished.status == "failed"  # ghost is unreachable
    assert [e for e in events if isinstance(e, RunFinished)] == [finished] and events[-1] is finished
    kinds = [type(e) for e in events if not isinstance(e, Output)]
    assert kinds[0] is PlayStarted and kinds[1] is TaskStarted and kinds[2] is HostStarted
    assert finished.stats["localhost"]["ok"] >= 5 and finished.stats["ghost"]["unreachable"] == 1


def test_host_results_have_the_right_status_and_a_duration(tiny_run):
    _, events, _ = tiny_run
    results = {(e.task, e.host): e for e in events if isinstance(e, HostResult)}
    statuses = {key: r.status for key, r in results.items()}
    assert statuses == {
        ("Say ok", "localhost"): "ok",
        ("Say ok", "ghost"): "ok",  # debug runs on the controller: no connection needed
        ("Change something", "localhost"): "changed",
        ("Change something", "ghost"): "unreachable",
        ("Keep a secret", "localhost"): "ok",
        ("Show a password by mistake", "localhost"): "ok",
        ("Skip me", "localhost"): "skipped",
        ("Fail but ignore", "localhost"): "failed",
        ("Become root", "localhost"): "ok",
    }
    assert results[("Fail but ignore", "localhost")].ignored
    assert results[("Fail but ignore", "localhost")].result["rc"] == 1
    assert results[("Become root", "localhost")].result["stdout"] == "0"
    assert all(r.duration is not None and r.duration >= 0 for r in results.values())
    assert "127.0.0.1" in results[("Change something", "ghost")].message


def test_no_secret_reaches_events_or_kept_artifacts(tiny_run):
    run, events, _ = tiny_run
    shown = repr(events)
    assert SECRET not in shown and BECOME_PASSWORD not in shown
    results = {e.task: e for e in events if isinstance(e, HostResult) and e.host == "localhost"}
    assert "censored" in results["Keep a secret"].result
    assert results["Show a password by mistake"].result["msg"] == {"db_password": "<hidden>"}
    # the become password was answered to ansible's prompt: it is in no kept file (command, env, events)
    for path in run.artifact_dir.rglob("*"):
        if path.is_file():
            assert BECOME_PASSWORD not in path.read_text(errors="replace"), path


def test_grid_shows_play_task_host_cells(tiny_run):
    run, _, _ = tiny_run
    grid = run.grid
    assert [block.play for block in grid.plays] == ["Tiny play"]
    assert [row.task for row in grid.plays[0].tasks][:3] == ["Say ok", "Change something", "Keep a secret"]
    assert grid.hosts == ["localhost", "ghost"]
    change = grid.plays[0].tasks[1]
    assert {host: cell.status for host, cell in change.cells.items()} == {
        "localhost": "changed",
        "ghost": "unreachable",
    }
    assert grid.cell(change.task_id, "ghost").result.status == "unreachable"
    # the ignored failure is not listed
    assert [(r.task, r.host) for r in grid.failed()] == [("Change something", "ghost")]
    assert grid.status == "failed" and "PLAY RECAP" in grid.raw_output


def test_past_runs_reload_the_same_grid(tiny_run):
    run, _, _ = tiny_run
    (past,) = past_runs(run.artifacts)
    assert (past.ident, past.action, past.status) == (run.ident, "tiny", "failed")
    grid = load_run(past.path)

    def cells(g):
        return [
            (block.play, row.task, host, cell.status)
            for block in g.plays
            for row in block.tasks
            for host, cell in row.cells.items()
        ]

    assert cells(grid) == cells(run.grid)
    assert grid.status == "failed" and grid.stats == run.grid.stats
    assert grid.raw_output == run.grid.raw_output


def test_cancel_stops_a_long_task(tmp_path):
    started = threading.Event()
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, HostStarted) and event.task == "Sleep a long time":
            started.set()

    run = PlaybookRun(
        _playbook(tmp_path, "long", LONG), _inventory(tmp_path), on_event, artifacts=tmp_path / "artifacts"
    ).start()
    assert started.wait(120)
    assert run.running
    run.cancel()
    finished = run.wait(120)
    assert finished is not None and finished.status == "canceled"
    assert not run.running
    assert run.grid.plays[0].tasks[0].cells["localhost"].status == "running"  # it never got a result
    assert past_runs(tmp_path / "artifacts")[0].status == "canceled"


def test_a_run_that_cannot_start_says_why(tmp_path):
    events = []
    run = PlaybookRun(tmp_path / "missing.yml", _inventory(tmp_path), events.append, artifacts=tmp_path / "a")
    finished = run.start().wait(120)
    assert finished.status == "failed" and finished.rc != 0
    assert "missing.yml" in run.grid.raw_output
    with pytest.raises(RuntimeError, match="already started"):
        run.run()  # one run per PlaybookRun: a second would mix two runs' events in one grid


def test_a_missing_inventory_is_named(tmp_path):
    events = []
    run = PlaybookRun("status", tmp_path / "nowhere.yml", events.append, artifacts=tmp_path / "a")
    finished = run.run()
    assert finished.status == "error" and "nowhere.yml does not exist" in finished.error
    assert events == [finished]


@pytest.mark.lab
def test_status_playbook_on_the_lab_fills_host_states(lab, tmp_path):
    states = HostStates()
    run = PlaybookRun("status", lab.inventory, states.apply, artifacts=tmp_path / "artifacts").start()
    finished = run.wait(600)
    assert finished.status == "successful", run.grid.raw_output[-2000:]
    names = [lap.name for lap in lab.laptops]
    assert sorted(states.hosts) == sorted(names)
    for index, name in enumerate(names):
        state = states.hosts[name]
        assert state.reachable is True
        assert state.docker not in (None, "down")
        assert state.gpu_count == 0 and state.ranks == [index]
        assert state.is_master is (index == 0)
        assert state.image is not None
    assert states.gpu_counts() == dict.fromkeys(names, 0)
    kept = json.loads((run.artifact_dir / "hetero_tui.json").read_text())
    assert kept["action"] == "status" and kept["status"] == "successful"


@pytest.mark.lab
def test_a_lab_host_with_an_unknown_host_key_is_refused(lab, tmp_path):
    # the lab inventory without its known_hosts: ansible-runner would skip the check by default, we do not
    inventory = tmp_path / "inventory.yml"
    known_hosts = tmp_path / "empty_known_hosts"
    known_hosts.write_text("")
    lap = lab.laptops[0]
    inventory.write_text(
        "all:\n  children:\n    cluster:\n      hosts:\n"
        f"        {lap.name}:\n          ansible_host: {lap.address}\n"
        f"          ansible_user: root\n          ansible_ssh_private_key_file: {lab.key}\n"
        f"          ansible_ssh_common_args: -o UserKnownHostsFile={known_hosts}\n"
    )
    playbook = _playbook(
        tmp_path, "ping", "- hosts: cluster\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n"
    )
    run = PlaybookRun(playbook, inventory, None, artifacts=tmp_path / "artifacts")
    finished = run.run()
    assert finished.status == "failed"
    (result,) = [cell.result for row in run.grid.plays[0].tasks for cell in row.cells.values()]
    assert result.status == "unreachable" and "Host key verification failed" in result.message
    assert known_hosts.read_text() == ""


SYNC = """
- name: Sync play
  hosts: cluster
  gather_facts: false
  tasks:
    - name: Say the extra vars
      ansible.builtin.debug:
        msg: "{{ given }} / {{ spaced }}"
      tags: [say]
    - name: Change something
      ansible.builtin.command: "true"
      tags: [say]
    - name: Not tagged
      ansible.builtin.debug:
        msg: untagged
    - name: Fail on request
      ansible.builtin.fail:
        msg: failed as asked
      when: fail | default(false) | bool
      tags: [say]
"""


def test_the_synchronous_call_returns_what_the_run_did(tmp_path, monkeypatch):
    # the tests' and scripts' door: arguments, extra vars and environment reach ansible-playbook as given
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    done = run_playbook(
        _playbook(tmp_path, "sync", SYNC),
        _inventory(tmp_path),
        *("--tags", "say", "-e", '{"spaced": "a b"}'),
        extravars={"given": "x y"},
        env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"},
    )
    assert (done.status, done.rc) == ("successful", 0), done.stdout
    assert done.plays == ["Sync play"]
    assert done.statuses("Say the extra vars", "localhost") == ["ok"]
    assert done.statuses("Not tagged", "localhost") == []
    assert done.result("Say the extra vars", "localhost")["msg"] == "x y / a b"
    assert done.changed("localhost") == 1 and done.changed_tasks() == [("Change something", "localhost")]
    assert done.changed_in("Sync") == {"localhost": 1} and done.failed("localhost") == 0
    assert '"msg": "x y / a b"' in done.stdout and "PLAY RECAP" in done.stdout  # json results, as asked
    assert list((tmp_path / "tmp").iterdir()) == []  # no artifacts kept unless asked


def test_the_synchronous_call_keeps_artifacts_and_reports_failures(tmp_path):
    done = run_playbook(
        _playbook(tmp_path, "sync", SYNC),
        _inventory(tmp_path),
        extravars={"given": 1, "spaced": 2, "fail": True},
        artifacts=tmp_path / "kept",
    )
    assert done.status == "failed" and done.rc == 2
    assert done.failures() == [("Fail on request", "localhost")] and done.failed("localhost") == 1
    assert "failed as asked" in done.stdout
    (kept,) = (tmp_path / "kept").iterdir()
    assert (kept / "stdout").read_text() == done.stdout


def test_the_synchronous_call_says_why_a_run_could_not_start(tmp_path):
    done = run_playbook(_playbook(tmp_path, "sync", SYNC), tmp_path / "nowhere.yml")
    assert done.status == "error" and done.rc is None
    assert "nowhere.yml does not exist" in done.stdout and done.events == []
