"""Your own model, data set, loss and optimizer as module:callable: they train exactly like the built-in
ones, and a module that does not import, a missing callable or a return value that breaks the contract is
one line naming the flag, the object and what was expected, exit 2, and nothing written."""

from __future__ import annotations

import textwrap

import pytest

from hetero_train.cli import main

from .runs import relative_difference, run_ranks, weights

# A small project of a user's own: a two-layer net on a data set of feature vectors, a per-sample loss.
PROJECT = {
    "my_pkg/__init__.py": "",
    "my_pkg/models.py": """
        import torch.nn as nn

        def build_model(num_classes):
            return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, num_classes))

        def not_a_module(num_classes):
            return "a string"

        NOT_CALLABLE = 3
    """,
    "my_pkg/data.py": """
        import torch

        class Points(torch.utils.data.Dataset):
            num_classes = 3

            def __init__(self, data_dir):
                g = torch.Generator().manual_seed(0)
                self.x = torch.randn(400, 8, generator=g)
                self.y = (self.x[:, 0] > 0).long() + (self.x[:, 1] > 1).long()

            def __len__(self):
                return len(self.x)

            def __getitem__(self, i):
                return self.x[i], int(self.y[i])

        def build_dataset(data_dir):
            return Points(data_dir)

        def pairs_of_three(data_dir):
            return [(1, 2, 3)] * 10
    """,
    "my_pkg/loss.py": """
        import torch.nn.functional as F

        def per_sample(outputs, targets):
            return F.cross_entropy(outputs, targets, reduction="none")

        def mean(outputs, targets):
            return F.cross_entropy(outputs, targets)
    """,
    "my_pkg/optim.py": """
        import torch

        def build(params, lr, weight_decay):
            return torch.optim.SGD(params, lr=lr, momentum=0.5, weight_decay=weight_decay)

        def not_an_optimizer(params, lr, weight_decay):
            return [params]

        def needs_betas(params, lr, betas):
            return torch.optim.Adam(params, lr=lr, betas=betas)
    """,
    "broken.py": "raise RuntimeError('half-written module')\n",
}
OWN = ["--model", "my_pkg.models:build_model", "--dataset", "my_pkg.data:build_dataset"]
TRAIN = [
    "--precision",  # the parity below is fp32's: auto takes bf16 on a CPU that runs it faster
    "fp32",
    "--global-batch-size",
    "40",
    "--max-steps",
    "8",
    "--learning-rate",
    "0.2",
    "--log-every",
    "1",
    "--save-every",
    "4",
]


def write_project(root):
    for path, text in PROJECT.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))


def test_your_own_model_data_and_loss_train_exactly_on_two_ranks(tmp_path):
    write_project(tmp_path)  # the working directory: Python imports my_pkg from there
    own = [*OWN, "--loss", "my_pkg.loss:per_sample", "--optimizer", "my_pkg.optim:build", *TRAIN]
    single = run_ranks(1, [*own, "--output-dir", str(tmp_path / "one")], tmp_path)
    pair = run_ranks(2, [*own, "--rank-shares", "3,1", "--output-dir", str(tmp_path / "two")], tmp_path)
    for r in (*single, *pair):
        assert r.returncode == 0, r.stderr[-2000:]
    final = "my_pkg.models.build_model_my_pkg.data.build_dataset/checkpoints/final.pt"
    assert relative_difference(weights(tmp_path / "two" / final), weights(tmp_path / "one" / final)) < 1e-5
    losses = [e["loss"] for e in single[0].of("step")]
    assert losses[-1] < losses[0]  # it learns


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty working directory, and the user's project importable from elsewhere (PYTHONPATH)."""
    code = tmp_path / "code"
    write_project(code)
    monkeypatch.syspath_prepend(str(code))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    return work


BAD = [
    (["--model", "no_such_pkg:build"], "--model no_such_pkg:build: module 'no_such_pkg' does not import"),
    (["--model", "broken:build"], "--model broken:build: module 'broken' does not import (RuntimeError"),
    (["--model", "my_pkg.models:nothing"], "--model my_pkg.models:nothing: 'nothing' is missing in module"),
    (["--model", "my_pkg.models:NOT_CALLABLE"], "'NOT_CALLABLE' is not callable in module 'my_pkg.models'"),
    (["--model", "my_pkg.models:not_a_module"], "returned str, expected a torch.nn.Module"),
    (
        ["--dataset", "my_pkg.data:pairs_of_three"],
        "--dataset my_pkg.data:pairs_of_three: item 0 is a tuple of 3",
    ),
    (["--loss", "my_pkg.loss:mean"], "--loss my_pkg.loss:mean: returned () for 2 samples, expected one loss"),
    (["--model", "my_pkg.models"], "--model: choose one of simple_cnn, resnet18, resnet50, or your own"),
    (
        ["--optimizer", "my_pkg.optim:not_an_optimizer"],
        "--optimizer my_pkg.optim:not_an_optimizer: returned list, expected a torch.optim.Optimizer",
    ),
    (
        ["--optimizer", "my_pkg.optim:needs_betas"],
        "--optimizer my_pkg.optim:needs_betas: calling it with {'params': 'a list of 4', 'lr': 0.01,"
        " 'weight_decay': 0.0} raised TypeError",
    ),
    (["--optimizer", "adam"], "--optimizer: choose one of sgd, adamw, or your own module:callable"),
]


@pytest.mark.parametrize(("argv", "expected"), BAD, ids=[a[-1] for a, _ in BAD])
def test_code_that_breaks_the_contract_is_one_line_exit_2_and_no_files(project, capsys, argv, expected):
    code = main([*OWN, *argv, "--output-dir", str(project / "experiments")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("hetero-train: error: ") and expected in err
    assert list(project.iterdir()) == []
