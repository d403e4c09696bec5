"""A token passed as an extra var (and used only in a no_log task) is kept nowhere: not in the output, not in
anything the TUI stores for its past runs (ansible-runner would write extra vars in clear into its private
data dir's env/ — the TUI's runner uses a private temp dir per run and removes it)."""

from __future__ import annotations

from pathlib import Path

from hetero_tui.services.runner import PlaybookRun

TOKEN = "tok-7c1e55d0a9"
PLAYBOOK = """
- name: Use a token without showing it
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Use the token
      ansible.builtin.debug:
        msg: "the token is {{ hetero_api_token }}"
      no_log: true
"""
REPO = Path(__file__).resolve().parents[2]


def test_a_token_passed_as_an_extra_var_is_not_kept_in_the_tuis_runs(tmp_path):
    playbook = tmp_path / "token.yml"
    playbook.write_text(PLAYBOOK)
    seen = []
    run = PlaybookRun(
        playbook,
        REPO / "inventory" / "local.yml",
        seen.append,
        extravars={"hetero_api_token": TOKEN},
        artifacts=tmp_path / "artifacts",
    )

    finished = run.run()

    assert finished.rc == 0, finished
    assert TOKEN not in repr(seen)
    kept = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert kept, "the run kept no artifacts at all"
    leaking = [p for p in kept if TOKEN in p.read_text(errors="replace")]
    assert leaking == []
