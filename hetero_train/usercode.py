"""Your own model, data set and loss, named as `module:callable` (`--model my_pkg.models:build_model`).

The contract, checked before any file is written (a break is one line naming the flag, the object and
what was expected, exit 2):
- model factory: `build_model(num_classes)` returns a `torch.nn.Module`; num_classes is the data set's
  `num_classes` attribute, or None when it has none;
- data set factory: `build_dataset(data_dir)` (a str: --data-dir, hetero_data_dir on a cluster) returns a
  map-style data set (`__len__`, `__getitem__`) of `(input tensor, integer target)`; give it a
  `num_classes` attribute for classification;
- loss: `per_sample_loss(outputs, targets)` returns one loss per sample (a tensor of shape [batch]). The
  step sums them and divides by the global batch, so the step stays exact whatever the split; a mean
  would weigh the samples of a small share more.
- optimizer: `build_optimizer(params, lr, weight_decay)` returns a `torch.optim.Optimizer` over `params`
  (the model's parameters); the trainer's warm-up and cosine schedule scale its learning rate.

The module is imported the way Python finds any module: from the working directory or PYTHONPATH.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from torch import nn

from .errors import BadInput


def load(flag: str, reference: str) -> Callable:
    """The callable `reference` names; a module that does not import or a missing name is one line."""
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - whatever the user's module raises on import
        raise BadInput(
            f"{flag} {reference}: module {module_name!r} does not import ({type(e).__name__}: {e});"
            " run from the directory that holds it or put it on PYTHONPATH"
        ) from None
    found = getattr(module, name, None)
    if not callable(found):
        what = "is not callable" if found is not None else "is missing"
        raise BadInput(f"{flag} {reference}: {name!r} {what} in module {module_name!r} ({module.__file__})")
    return found


def _call(flag: str, reference: str, factory: Callable, **kwargs):
    shown = {k: _describe(v) if isinstance(v, list) else v for k, v in kwargs.items()}  # not every parameter
    try:
        return factory(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's factory failed: say which and how
        raise BadInput(
            f"{flag} {reference}: calling it with {shown} raised {type(e).__name__}: {e}"
        ) from None


def build_model(reference: str, num_classes: int | None) -> nn.Module:
    model = _call("--model", reference, load("--model", reference), num_classes=num_classes)
    if not isinstance(model, nn.Module):
        raise BadInput(f"--model {reference}: returned {type(model).__name__}, expected a torch.nn.Module")
    return model


def open_dataset(reference: str, data_dir: str):
    ds = _call("--dataset", reference, load("--dataset", reference), data_dir=data_dir)
    expected = "expected a map-style data set of (input tensor, integer target)"
    if not (hasattr(ds, "__len__") and hasattr(ds, "__getitem__")):
        raise BadInput(f"--dataset {reference}: returned {type(ds).__name__}, {expected}")
    if len(ds) == 0:
        raise BadInput(f"--dataset {reference}: returned an empty data set, {expected}")
    item = ds[0]
    if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], torch.Tensor)):
        raise BadInput(f"--dataset {reference}: item 0 is {_describe(item)}, {expected}")
    if not isinstance(item[1], int | torch.Tensor) or (
        isinstance(item[1], torch.Tensor) and item[1].numel() != 1
    ):
        raise BadInput(f"--dataset {reference}: item 0's target is {_describe(item[1])}, {expected}")
    if not hasattr(ds, "num_classes"):
        ds.num_classes = None  # a factory that cannot say: the model factory gets None
    return ds


def build_optimizer(reference: str, params: list, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    factory = load("--optimizer", reference)
    optimizer = _call("--optimizer", reference, factory, params=params, lr=lr, weight_decay=weight_decay)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise BadInput(
            f"--optimizer {reference}: returned {type(optimizer).__name__}, expected a torch.optim.Optimizer"
        )
    return optimizer


def loss_function(reference: str | None) -> Callable | None:
    """Your per-sample loss, or None for the built-in cross-entropy."""
    if reference is None or reference == "cross_entropy":
        return None
    return load("--loss", reference)


def check_loss(reference: str, loss: Callable, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """One call on two samples, on a copy of nothing: no gradient, the model in eval mode for the call and
    the RNG forked, so the run is the same as without the check."""
    training = model.training
    try:
        with torch.no_grad(), torch.random.fork_rng():
            model.eval()
            out = loss(model(x), y)
    except Exception as e:  # noqa: BLE001
        raise BadInput(
            f"--loss {reference}: calling it on (outputs, targets) raised {type(e).__name__}: {e}"
        ) from None
    finally:
        model.train(training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(x),):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise BadInput(
            f"--loss {reference}: returned {shape} for {len(x)} samples, expected one loss per sample"
            f" (a tensor of shape ({len(x)},)): return the losses before any mean or sum"
        )


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"
