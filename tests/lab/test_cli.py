"""Bad input to the lab's command line: one clear line naming the option, exit 2, nothing done."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.lab.config import REPO


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "0"], "number of laptops n=0 must be between 1 and 80"),
        (["--cpus", "fast"], "--cpus 'fast': give comma-separated CPU counts"),
        (["--cpus", "1.0,-1"], "every CPU quota must be a positive number"),
    ],
)
def test_bad_lab_up_options_exit_2_with_one_line(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "tests.lab", "up", *args], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
