"""The lab works wherever the checkout is: what lives under a directory each laptop has its own copy of
(/tmp, /run, ...) is brought back into every laptop at the same path; where that cannot be, one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.config import REPO, LabConfig
from tests.lab.laptop import holder_script


def test_the_state_dir_under_tmp_is_brought_back_into_each_laptops_own_tmp():
    cfg = LabConfig(state_dir=Path("/tmp/hetero-lab-paths"))
    assert Path("/tmp/hetero-lab-paths") in cfg.brought_back()["/tmp"]
    script = holder_script(cfg, cfg.laptops[0])
    # Bound into the laptop's copy while the machine's /tmp still shows, then carried over /tmp with it.
    staged = script.index(
        "mount --bind /tmp/hetero-lab-paths /tmp/hetero-lab-paths/lap1/tmp/hetero-lab-paths"
    )
    assert staged < script.index("mount --rbind /tmp/hetero-lab-paths/lap1/tmp /tmp")


def test_the_checkout_holds_the_default_state_dir_so_only_the_checkout_is_brought_back():
    assert LabConfig().shared_paths == [REPO]


@pytest.mark.parametrize(("state_dir", "hidden"), [("/tmp", "/tmp"), ("/var", "/var/lib/docker")])
def test_files_in_a_directory_a_laptop_replaces_are_refused_in_one_line(state_dir, hidden):
    with pytest.raises(
        ValueError, match=f"every laptop has its own {hidden}, which would hide them"
    ) as refused:
        LabConfig(state_dir=Path(state_dir))
    assert "\n" not in str(refused.value)
