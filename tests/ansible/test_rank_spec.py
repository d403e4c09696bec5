"""The rank container's spec (roles/rank_spec/filter_plugins/rank_spec.py), tested as plain Python."""

from __future__ import annotations

import importlib.util

import pytest

from tests.ansible.playbook import REPO

_spec = importlib.util.spec_from_file_location(
    "hetero_rank_spec_filter", REPO / "roles" / "rank_spec" / "filter_plugins" / "rank_spec.py"
)
rank_spec_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rank_spec_module)
rank_spec = rank_spec_module.rank_spec

SHARED = {
    "name_prefix": "hetero-rank-",
    "image": "hetero-trainer:gpu",
    "command": ["--epochs", 1, "--enable-load-balancing"],
    "user": "1000:1000",
    "volumes": ["/x:/workspace/experiments:rw"],
    "world_size": 3,
    "master_addr": "10.0.0.1",
    "master_port": 29500,
    "ifname": "eth1",
    "cpus": None,
    "restart_retries": "3",
    "experiment": "demo",
    "log_max_size": "50m",
}


def test_a_gpu_rank_gets_its_gpu_nccl_interface_and_string_environment():
    spec = rank_spec({"rank": 1, "local_rank": 1, "gpu": 1}, SHARED)
    assert spec["name"] == "hetero-rank-1" and spec["gpu"] == "1" and spec["network_mode"] == "host"
    assert spec["env"] == {
        "RANK": "1",
        "WORLD_SIZE": "3",
        "MASTER_ADDR": "10.0.0.1",
        "MASTER_PORT": "29500",
        "LOCAL_RANK": "1",
        "GLOO_SOCKET_IFNAME": "eth1",
        "NCCL_SOCKET_IFNAME": "eth1",
    }
    assert spec["command"] == ["--epochs", "1", "--enable-load-balancing"]
    assert spec["restart_retries"] == 3 and spec["cpus"] is None
    assert spec["labels"] == {"hetero.rank": "1", "hetero.experiment": "demo"}
    assert spec["log_options"] == {"max-size": "50m"}


def test_a_cpu_rank_has_no_gpu_nor_nccl_and_its_quota_is_a_number():
    spec = rank_spec({"rank": 0, "local_rank": 0, "gpu": None}, {**SHARED, "cpus": "0.5"})
    assert spec["gpu"] is None and "NCCL_SOCKET_IFNAME" not in spec["env"]
    assert spec["cpus"] == 0.5


def test_overrides_replace_shared_keys_and_an_overridden_key_is_never_read():
    class Lazy(dict):
        """A shared dict whose image cannot be rendered (slurm's controller knows no host's variant)."""

        def __getitem__(self, key):
            if key == "image":
                raise AssertionError("image read although overridden")
            return super().__getitem__(key)

    overrides = {"image": "$image", "master_addr": "rank-0", "ifname": "eth0"}
    spec = rank_spec({"rank": 2, "local_rank": 0, "gpu": None}, Lazy(SHARED), overrides)
    assert spec["image"] == "$image"
    assert (spec["env"]["MASTER_ADDR"], spec["env"]["GLOO_SOCKET_IFNAME"]) == ("rank-0", "eth0")


@pytest.mark.parametrize("missing", ["user", "command", "volumes"])
def test_a_missing_shared_setting_is_an_error_not_a_silent_default(missing):
    shared = {k: v for k, v in SHARED.items() if k != missing}
    with pytest.raises(KeyError):
        rank_spec({"rank": 0, "local_rank": 0, "gpu": None}, shared)
