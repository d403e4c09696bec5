"""The models: simple_cnn built in; resnet18/resnet50 from torchvision, imported only when asked; your own
factory as module:callable (usercode.py)."""

from __future__ import annotations

import importlib

from torch import nn

from . import usercode
from .errors import BadInput
from .settings import is_reference


def simple_cnn(num_classes: int) -> nn.Module:
    # GroupNorm, not BatchNorm, and no dropout: the output of a sample does not depend on which other
    # samples share its rank's batch, so an unequal split gives exactly the single-process step.
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.GroupNorm(8, 32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.GroupNorm(8, 64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(4),  # any input size (32x32 synthetic/cifar, 224x224 imagenet)
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


def require_torchvision(what: str):
    try:
        return importlib.import_module("torchvision")
    except ImportError as e:
        raise BadInput(
            f"{what} needs torchvision, which is not importable here ({e}); install hetero-cluster[vision]"
            " or use --model simple_cnn --dataset synthetic_image"
        ) from None


def build_model(name: str, num_classes: int | None) -> nn.Module:
    if is_reference(name):
        return usercode.build_model(name, num_classes)
    if num_classes is None:
        raise BadInput(
            f"--model {name} needs the number of classes: give your data set a num_classes attribute"
        )
    if name == "simple_cnn":
        return simple_cnn(num_classes)
    tv = require_torchvision(f"--model {name}")
    return getattr(tv.models, name)(weights=None, num_classes=num_classes)
