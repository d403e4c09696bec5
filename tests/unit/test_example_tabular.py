"""The worked example (examples/tabular_csv): its CSV is the one its generator writes (small, committed),
and its two factories keep hetero_train's contract (hetero_train/usercode.py) on that CSV. Trained through
site.yml on the lab laptops: tests/lab/test_site.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from hetero_train import usercode

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tabular_csv"


def test_the_committed_csv_is_what_the_generator_writes_and_stays_small(tmp_path):
    spec = importlib.util.spec_from_file_location("make_tabular_data", EXAMPLE / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    fresh = tmp_path / "train.csv"
    make_data.write(fresh)
    committed = EXAMPLE / "data" / "train.csv"
    assert fresh.read_bytes() == committed.read_bytes()
    assert committed.stat().st_size < 100_000


def test_the_example_factories_keep_the_contract_on_its_csv(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLE / "project"))
    try:
        data = usercode.open_dataset("tabular_csv.data:build_dataset", str(EXAMPLE / "data"))
        model = usercode.build_model("tabular_csv.models:build_model", data.num_classes)
    finally:
        for name in [m for m in sys.modules if m == "tabular_csv" or m.startswith("tabular_csv.")]:
            del sys.modules[name]
    assert len(data) == 600 and data.num_classes == 3
    assert "tabular_csv: 600 rows, classes ['faulty', 'normal', 'worn']" in capsys.readouterr().out
    x, y = data[0]
    assert x.shape == (4,) and isinstance(y, int)
    assert model(torch.stack([x, data[1][0]])).shape == (2, 3)
