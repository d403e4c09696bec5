"""A yes/no setting (kind bool, hetero_train/setting.py) takes what YAML and people write for yes and no, and
refuses anything else in one line that says what it wants."""

from __future__ import annotations

import pytest

from hetero_train.mesh_settings import MESH_HOST_BY_NAME
from hetero_train.setting import Setting

FLAG = Setting("hetero_example_flag", None, bool, False, "an example yes/no setting")


@pytest.mark.parametrize(
    ("value", "typed"),
    [
        (True, True),  # YAML's own booleans
        (False, False),
        ("true", True),
        ("false", False),
        ("yes", True),
        ("no", False),
        ("True", True),  # as Ansible or a person capitalises it
        ("NO", False),
        ("on", True),
        ("off", False),
    ],
)
def test_yes_and_no_as_written_are_accepted(value, typed):
    assert FLAG.problem(value) is None
    assert FLAG.parse(value) is typed


@pytest.mark.parametrize("value", ["maybe", "1", 0, "y"])
def test_anything_else_says_true_or_false(value):
    problem = FLAG.problem(value)
    assert problem == f"must be true or false (got {str(value)!r})"


@pytest.mark.parametrize("value", [None, "", "null", "~"])
def test_unset_is_the_default(value):
    assert FLAG.problem(value) is None
    assert FLAG.parse(value) is None  # unset: the consumer takes the default


def test_the_mesh_remote_setting_is_a_yes_no_setting():
    remote = MESH_HOST_BY_NAME["hetero_mesh_remote"]
    assert remote.problem("yes") is None and remote.parse("yes") is True
    assert remote.problem("maybe") == "must be true or false (got 'maybe')"
