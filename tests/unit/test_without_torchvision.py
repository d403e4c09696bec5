"""The CPU rank image carries torch without torchvision: simple_cnn + synthetic_image must not need it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hetero_train.cli import main

TINY = ["--global-batch-size", "8", "--dataset-size", "32", "--max-steps", "2", "--output-dir", "out"]


def test_simple_cnn_on_synthetic_images_never_imports_torchvision(tmp_path):
    code = (
        "import sys\n"
        "from hetero_train.cli import main\n"
        f"rc = main({TINY!r})\n"
        "assert 'torchvision' not in sys.modules, 'torchvision was imported'\n"
        "sys.exit(rc)\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "out/simple_cnn_synthetic_image/checkpoints/final.pt").is_file()


@pytest.mark.parametrize("argv", [["--model", "resnet18"], ["--dataset", "imagenet", "--data-dir", "imnet"]])
def test_asking_for_torchvision_where_it_is_missing_is_one_line(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "imnet/train/cat").mkdir(parents=True)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` now fails, as in the image
    assert main([*argv, *TINY]) == 2
    err = capsys.readouterr().err
    assert (
        len(err.strip().splitlines()) == 1 and "needs torchvision" in err and "hetero-cluster[vision]" in err
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imnet"]
