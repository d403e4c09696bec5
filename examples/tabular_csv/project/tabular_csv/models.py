"""The model factory: `build_model(num_classes)` returns the network (hetero_train/usercode.py's contract)."""

from __future__ import annotations

from torch import nn

# The CSV's feature columns (tabular_csv/data.py checks the file has this many).
FEATURES = 4
HIDDEN = 32


def build_model(num_classes: int) -> nn.Module:
    """A two-layer MLP: FEATURES readings in, one score per class out. No batch norm, so the step is exact
    whatever share of the global batch each machine gets."""
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, num_classes))
