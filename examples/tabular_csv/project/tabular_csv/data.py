"""The data set factory: `build_dataset(data_dir)` returns a map-style data set of (features, class index)
read from `<data_dir>/train.csv` (hetero_train/usercode.py's contract). On a cluster, data_dir is
hetero_data_dir on each host, where the data step put the CSV (hetero_data_source)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .models import FEATURES

FILE = "train.csv"
LABEL = "label"  # the class column; every other column is a number


class CsvDataset(Dataset):
    def __init__(self, path: Path) -> None:
        table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
        columns = [name for name in table.dtype.names if name != LABEL]
        if len(columns) != FEATURES:
            raise ValueError(f"{path} has {len(columns)} feature columns, the model takes {FEATURES}")
        features = np.stack([table[name].astype(np.float32) for name in columns], axis=1)
        # Standardised, so readings in degrees and in bar weigh alike.
        self.features = torch.from_numpy((features - features.mean(0)) / features.std(0))
        self.classes = sorted(set(table[LABEL].tolist()))
        self.targets = [self.classes.index(label) for label in table[LABEL].tolist()]
        self.num_classes = len(self.classes)  # what build_model is called with
        # One line in each rank's log: what it read, and from where.
        print(f"tabular_csv: {len(self)} rows, classes {self.classes}, from {path}", flush=True)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.features[index], self.targets[index]


def build_dataset(data_dir: str) -> CsvDataset:
    return CsvDataset(Path(data_dir) / FILE)
