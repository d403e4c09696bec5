"""Datasets: synthetic_image (built in), cifar10 (torchvision's on-disk format), imagenet (ImageFolder), and
your own factory as module:callable (usercode.py).

A dataset that is not on disk is a one-line error saying where we looked - never a download that hangs
a rank container without network.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from . import usercode
from .errors import BadInput
from .models import require_torchvision
from .settings import is_reference

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
SYNTHETIC_SIZE = 50_000


class SyntheticImages:
    """32x32x3 images in 10 classes; sample i is the same on every machine (its own seeded generator).

    Each class has a fixed pattern that its images carry under noise, so the labels are learnable and
    the loss visibly falls.
    """

    num_classes = 10

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.seed = seed
        g = torch.Generator().manual_seed(10_007 + seed)
        self.patterns = torch.randn(self.num_classes, 3, 32, 32, generator=g)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(index))
        label = int(torch.randint(self.num_classes, (1,), generator=g))
        noise = torch.randn(3, 32, 32, generator=g)
        return self.patterns[label] + noise, label


class Cifar10:
    """The python-pickle batches torchvision downloads to <data-dir>/cifar-10-batches-py (read directly)."""

    num_classes = 10

    def __init__(self, root: Path):
        folder = root / CIFAR_DIR
        images, labels = [], []
        for name in CIFAR_TRAIN:
            with open(folder / name, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            images.append(torch.as_tensor(batch[b"data"]).view(-1, 3, 32, 32))
            labels.extend(int(y) for y in batch[b"labels"])
        self.images = torch.cat(images)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index].float() / 255.0
        return (x - MEAN) / STD, self.labels[index]


def _imagenet(root: Path):
    tv = require_torchvision("--dataset imagenet")
    t = tv.transforms
    transform = t.Compose(
        [t.Resize(256), t.CenterCrop(224), t.ToTensor(), t.Normalize(MEAN.flatten(), STD.flatten())]
    )
    ds = tv.datasets.ImageFolder(str(root), transform=transform)
    ds.num_classes = len(ds.classes)
    return ds


def check_present(dataset: str, data_dir: Path) -> None:
    """Fail early, before rendezvous and before any file is written, if the data is not there."""
    if dataset == "cifar10":
        folder = data_dir / CIFAR_DIR
        missing = [n for n in CIFAR_TRAIN if not (folder / n).is_file()]
        if missing:
            raise BadInput(
                f"cifar10: no CIFAR-10 data at {folder.resolve()} (looked for {', '.join(missing)});"
                " put torchvision's cifar-10-batches-py there or pass --data-dir"
            )
    elif dataset == "imagenet":
        folder = data_dir / "train"
        if not folder.is_dir() or not any(p.is_dir() for p in folder.iterdir()):
            raise BadInput(
                f"imagenet: no ImageFolder at {folder.resolve()} (expected train/<class>/<image> files);"
                " pass --data-dir pointing at the folder that holds train/"
            )


def open_dataset(dataset: str, data_dir: Path, size: int | None, seed: int):
    check_present(dataset, data_dir)
    if dataset == "synthetic_image":
        return SyntheticImages(size or SYNTHETIC_SIZE, seed)
    if is_reference(dataset):
        ds = usercode.open_dataset(dataset, str(data_dir))
    else:
        ds = Cifar10(data_dir) if dataset == "cifar10" else _imagenet(data_dir / "train")
    if size is not None and size < len(ds):
        classes = ds.num_classes
        ds = torch.utils.data.Subset(ds, range(size))
        ds.num_classes = classes
    return ds


def collate(items: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of a list of (input, target) items; a target may be an int or a 1-element tensor."""
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


def load_batch(ds, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return collate([ds[int(i)] for i in indices])
