"""Datasets in their real on-disk formats, made tiny by the test; training runs on them end to end."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from hetero_train.cli import main
from hetero_train.data import SyntheticImages


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


def make_cifar10(root, per_batch: int = 8):
    """torchvision's cifar-10-batches-py: pickled dicts with b"data" (N x 3072 uint8) and b"labels"."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)


def make_imagefolder(root, classes=("cat", "dog"), per_class: int = 3):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / "train" / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "train" / c / f"{c}_{i}.JPEG", format="JPEG")


def steps_of(stdout: str) -> list[dict]:
    return [e for e in map(json.loads, stdout.splitlines()) if e["event"] == "step"]


def test_trains_on_a_tiny_cifar10_in_torchvision_format(env, capsys):
    make_cifar10(env / "data")
    code = main(
        [
            "--dataset",
            "cifar10",
            "--data-dir",
            "data",
            "--global-batch-size",
            "16",
            "--max-steps",
            "3",
            "--log-every",
            "1",
            "--output-dir",
            "out",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert [e["step"] for e in steps_of(out)] == [1, 2, 3]
    assert (env / "out/simple_cnn_cifar10/checkpoints/final.pt").is_file()


def test_one_epoch_over_cifar10_writes_model_epoch_1(env, capsys):
    make_cifar10(env / "data")  # 40 images, batch 16: 3 steps, the last one of 8
    code = main(
        [
            "--dataset",
            "cifar10",
            "--data-dir",
            "data",
            "--global-batch-size",
            "16",
            "--epochs",
            "1",
            "--log-every",
            "1",
            "--output-dir",
            "out",
        ]
    )
    assert code == 0
    assert len(steps_of(capsys.readouterr().out)) == 3
    assert (env / "out/simple_cnn_cifar10/checkpoints/model_epoch_1.pth").is_file()


@pytest.mark.torchvision
def test_trains_on_a_tiny_imagenet_imagefolder(env, capsys):
    make_imagefolder(env / "imnet")
    code = main(
        [
            "--dataset",
            "imagenet",
            "--data-dir",
            "imnet",
            "--global-batch-size",
            "4",
            "--max-steps",
            "2",
            "--log-every",
            "1",
            "--output-dir",
            "out",
        ]
    )
    assert code == 0
    assert len(steps_of(capsys.readouterr().out)) == 2
    final = torch.load(env / "out/simple_cnn_imagenet/checkpoints/final.pt")["model"]
    assert final["12.weight"].shape[0] == 2  # two classes found in train/


def test_synthetic_images_are_deterministic_by_index():
    a, b = SyntheticImages(100, seed=0), SyntheticImages(100, seed=0)
    xa, ya = a[17]
    xb, yb = b[17]
    assert torch.equal(xa, xb) and ya == yb and xa.shape == (3, 32, 32)
    assert not torch.equal(a[18][0], xa)
    assert len({a[i][1] for i in range(100)}) == 10


def test_profiling_writes_a_trace_per_rank(env, capsys):
    code = main(
        [
            "--global-batch-size",
            "8",
            "--dataset-size",
            "64",
            "--max-steps",
            "4",
            "--enable-profiling",
            "--output-dir",
            "out",
        ]
    )
    assert code == 0
    trace = env / "out/simple_cnn_synthetic_image/profiles/rank_0_trace.json"
    assert "traceEvents" in json.loads(trace.read_text())
