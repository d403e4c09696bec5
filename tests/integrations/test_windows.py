"""A host marked hetero_os: windows stops preflight with what to set up, before any host is contacted."""

from __future__ import annotations

from .ansible_run import playbook, write_inventory


def _preflight(tmp_path, os_value: str):
    # ansible_connection: local on every host: even a broken check could not send traffic anywhere.
    hosts = {
        "desk": {"ansible_host": "10.0.0.1", "ansible_connection": "local"},
        "winlap": {"ansible_host": "10.0.0.2", "ansible_connection": "local", "hetero_os": os_value},
    }
    return playbook("preflight.yml", write_inventory(tmp_path, hosts))


def test_windows_host_gets_the_wsl2_setup_steps(tmp_path):
    done = _preflight(tmp_path, "windows")
    assert done.returncode != 0
    assert (
        "host winlap is marked hetero_os: windows; native Windows cannot run the rank containers"
        in done.stdout
    )
    for step in ["wsl --install", "networkingMode=mirrored", "openssh-server", "hetero_os: wsl", "NCCL"]:
        assert step in done.stdout
    # Nothing ran on any host: the run stopped in the controller-side play.
    assert "Look for python3" not in done.stdout


def test_unknown_os_value_names_the_field(tmp_path):
    done = _preflight(tmp_path, "win11")
    assert done.returncode != 0
    assert 'host winlap: hetero_os is "win11"; use linux, wsl or windows' in done.stdout
