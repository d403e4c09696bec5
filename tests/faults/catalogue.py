"""The catalogue of broken settings preflight must refuse, one line each, before any host is changed.

A case edits a copy of the lab inventory (host vars), of inventory/group_vars/all.yml (set or delete a
setting), or passes extra vars, and names what the one-line message must say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DELETE = object()  # a group_vars value that removes the setting


@dataclass(frozen=True)
class Case:
    id: str
    expect: tuple[str, ...]  # every one of these must be in the message (the field, and the fix)
    hosts: dict = field(default_factory=dict)  # {laptop: {var: value}}
    group_vars: dict = field(default_factory=dict)  # {var: value or DELETE}
    extra_vars: dict = field(default_factory=dict)
    needs_facts: bool = False  # judged after the (read-only) hardware probe, not before any contact

    def resolved(self, names: dict[str, str]) -> Case:
        """The case for a lab: {A}, {B} and {A_ADDR} become its laptops' names and the first one's address."""

        def fill(value):
            if isinstance(value, str):
                return value.format(**names)
            if isinstance(value, dict):
                return {fill(k): fill(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return type(value)(fill(v) for v in value)
            return value

        return Case(
            self.id,
            fill(self.expect),
            fill(self.hosts),
            fill(self.group_vars),
            fill(self.extra_vars),
            self.needs_facts,
        )


def case(id, *expect, **kw) -> Case:
    return Case(id, tuple(expect), **kw)


CASES = [
    # --- the inventory: the rank plan (roles/hardware/filter_plugins/rank_plan.py) -------------------------
    case(
        "duplicate-ranks",
        "both claim rank 1",
        "hetero_rank",
        hosts={"{A}": {"hetero_rank": 0, "hetero_ranks": 2}, "{B}": {"hetero_rank": 1}},
        needs_facts=True,
    ),
    case(
        "two-masters",
        "both claim rank 0",
        "hetero_rank",
        hosts={"{A}": {"hetero_rank": 0}, "{B}": {"hetero_rank": 0}},
        needs_facts=True,
    ),
    case(
        "no-master",
        "rank 0 is unused",
        "hetero_rank",
        hosts={"{A}": {"hetero_rank": 1}, "{B}": {"hetero_rank": 2}},
        needs_facts=True,
    ),
    case(
        "rank-gap",
        "rank 2 is unused",
        "hetero_rank",
        "{B}",
        hosts={"{B}": {"hetero_rank": 5}, "{A}": {"hetero_ranks": 2}},
        needs_facts=True,
    ),
    case(
        "same-host-twice",
        "both have address {A_ADDR}",
        "list each machine once",
        hosts={"{B}": {"ansible_host": "{A_ADDR}"}},
        needs_facts=True,
    ),
    case(
        "ranks-zero",
        "hetero_ranks: must be a whole number >= 1",
        "{B}",
        hosts={"{B}": {"hetero_ranks": 0}},
        needs_facts=True,
    ),
    case(
        "ranks-boolean",
        "hetero_ranks: must be a whole number",
        "{A}",
        hosts={"{A}": {"hetero_ranks": True}},
        needs_facts=True,
    ),
    case(
        "rank-negative",
        "hetero_rank: must be a whole number >= 0",
        "{B}",
        hosts={"{B}": {"hetero_rank": -1}},
        needs_facts=True,
    ),
    case(
        "world-size-mismatch",
        "hetero_world_size is set to",
        "gives 2 rank(s)",
        "remove hetero_world_size",
        group_vars={"hetero_world_size": 4},
        needs_facts=True,
    ),
    case(
        "world-size-mismatch-extra-var",
        "hetero_world_size is set to",
        "remove hetero_world_size",
        extra_vars={"hetero_world_size": 3},
        needs_facts=True,
    ),
    # --- each setting's own rule (hetero_train/settings.py), before any host is contacted ------------------
    case("port-too-high", "hetero_master_port", "1024-65535", group_vars={"hetero_master_port": 70000}),
    case("port-zero", "hetero_master_port", "1024-65535", group_vars={"hetero_master_port": 0}),
    case("port-privileged", "hetero_master_port", "uid 1000", group_vars={"hetero_master_port": 80}),
    case("port-not-a-number", "hetero_master_port", "1024-65535", group_vars={"hetero_master_port": "http"}),
    case("bad-model", "hetero_model", "choose one of", "simple_cnn", group_vars={"hetero_model": "resnet19"}),
    case(
        "bad-dataset",
        "hetero_dataset",
        "choose one of",
        "synthetic_image",
        group_vars={"hetero_dataset": "mnist"},
    ),
    case(
        "bad-policy",
        "hetero_balance_policy",
        "choose one of none,",
        "dynamic",
        group_vars={"hetero_balance_policy": "fastest"},
    ),
    case("bad-backend", "hetero_backend", "choose one of", "gloo", group_vars={"hetero_backend": "mpi"}),
    case("epochs-zero", "hetero_epochs", "must be a whole number >= 1", group_vars={"hetero_epochs": 0}),
    case(
        "global-batch-negative",
        "hetero_global_batch_size",
        "must be a whole number >= 1",
        group_vars={"hetero_global_batch_size": -128},
    ),
    case("batch-size-zero", "hetero_batch_size", "whole number >= 1", group_vars={"hetero_batch_size": 0}),
    case("save-every-negative", "hetero_save_every", ">= 0", group_vars={"hetero_save_every": -5}),
    case(
        "collective-timeout-zero",
        "hetero_collective_timeout",
        "must be a number > 0",
        group_vars={"hetero_collective_timeout": 0},
    ),
    case(
        "max-steps-not-a-number",
        "hetero_max_steps",
        "must be a whole number >= 0",
        group_vars={"hetero_max_steps": "ten"},
    ),
    case("learning-rate-zero", "hetero_learning_rate", "number > 0", extra_vars={"hetero_learning_rate": 0}),
    case(
        "experiment-name-path",
        "hetero_experiment_name",
        "no '/'",
        group_vars={"hetero_experiment_name": "../escape"},
    ),
    case("data-dir-relative", "hetero_data_dir", "absolute path", group_vars={"hetero_data_dir": "data"}),
    case(
        "unknown-trainer-flag",
        "hetero_trainer_extra_args",
        "unrecognized arguments",
        extra_vars={"hetero_trainer_extra_args": ["--epohcs", "3"]},
    ),
    # --- settings that need the world size (second pass, after the read-only probe) ------------------------
    case(
        "global-batch-below-world",
        "hetero_global_batch_size",
        "smaller than the world size 2",
        group_vars={"hetero_global_batch_size": 1},
        needs_facts=True,
    ),
    case(
        "global-batch-above-dataset-size",
        "hetero_global_batch_size",
        "larger than the dataset (100 samples)",
        group_vars={"hetero_global_batch_size": 128, "hetero_dataset_size": 100},
    ),
    case(
        "share-list-wrong-length",
        "hetero_trainer_extra_args",
        "has 3 values but the world size is 2",
        extra_vars={"hetero_trainer_extra_args": ["--rank-shares", "3,1,1"]},
        needs_facts=True,
    ),
    # --- what the trainer would refuse at start, seen in the hosts' facts (the lab is CPU-only) ----------
    case(
        "nccl-on-cpu-ranks",
        "hetero_backend",
        "needs a GPU on every rank",
        "auto or gloo",
        group_vars={"hetero_backend": "nccl"},
        needs_facts=True,
    ),
    case(
        "resnet-without-torchvision",
        "hetero_model",
        "needs torchvision",
        "hetero_image_extra_requirements",
        group_vars={"hetero_model": "resnet18"},
        needs_facts=True,
    ),
    case(
        "missing-dataset-dir",
        "hetero_data_dir",
        "/nonexistent/data",
        "cifar-10-batches-py",
        "{A}",
        # cifar10 needs torchvision in the image (the case above); this user has added it
        group_vars={
            "hetero_dataset": "cifar10",
            "hetero_data_dir": "/nonexistent/data",
            "hetero_image_extra_requirements": ["numpy", "torchvision"],
        },
        needs_facts=True,
    ),
    # --- typos of known variables (difflib close match) ---------------------------------------------------
    case("typo-epochs", "hetero_epoch ", "did you mean hetero_epochs?", group_vars={"hetero_epoch": 3}),
    case(
        "typo-global-batch",
        "hetero_globel_batch_size",
        "did you mean hetero_global_batch_size?",
        hosts={"{B}": {"hetero_globel_batch_size": 64}},
    ),
    case("typo-ranks", "hetero_rnaks", "did you mean hetero_ranks?", hosts={"{A}": {"hetero_rnaks": 2}}),
    case(
        "typo-master-port",
        "hetero_masterport",
        "did you mean hetero_master_port?",
        extra_vars={"hetero_masterport": 29501},
    ),
    case(
        "typo-trainer-cpus",
        "hetero_trainer_cpu ",
        "did you mean hetero_trainer_cpus?",
        hosts={"{B}": {"hetero_trainer_cpu": 0.5}},
    ),
    # --- the encrypted mesh (roles/mesh): a subnet that overlaps a laptop's own network ---------------
    case(
        "mesh-subnet-overlaps",
        "hetero_mesh_subnet 10.0.0.0/8 overlaps eth0's network",
        "choose another private network",
        group_vars={"hetero_mesh": "wireguard", "hetero_mesh_subnet": "10.0.0.0/8"},
        needs_facts=True,
    ),
    # --- a setting missing altogether ----------------------------------------------------------------------
    case(
        "missing-setting",
        "hetero_model is not set",
        "group_vars",
        group_vars={"hetero_model": DELETE},
        needs_facts=True,
    ),
]
