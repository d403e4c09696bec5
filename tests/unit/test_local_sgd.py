"""`--sync local`: the ranks train apart for --local-steps steps, each on the mean loss of its own share, then
average their weight changes weighted by their samples and take DiLoCo's outer Nesterov step. Checked against
one process that simulates every rank and the outer step by hand, and a resumed run mid-round against an
uninterrupted one."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hetero_train import data
from hetero_train.models import build_model
from hetero_train.sampler import GlobalSampler, steps_per_epoch

from .runs import TINY, relative_difference, run_ranks, weights

pytestmark = pytest.mark.timeout(300)

FINAL = "simple_cnn_synthetic_image/checkpoints/final.pt"
SAMPLES, BATCH, LR = 2000, 32, 0.01  # TINY's data set and global batch, the default learning rate


def simulate(shares: list[int], local_steps: int, steps: int) -> dict[str, torch.Tensor]:
    """Every rank's inner steps (SGD, momentum 0.9, the cosine schedule; mean loss over its own share) and,
    every `local_steps` steps and at the end, the outer step: SGD with Nesterov momentum (lr 0.7, momentum
    0.9) on the samples-weighted average of the ranks' weight changes. All in this one process."""
    dataset = data.open_dataset("synthetic_image", Path("data"), SAMPLES, 0)
    torch.manual_seed(0)
    start = build_model("simple_cnn", dataset.num_classes)
    ranks = [copy.deepcopy(start) for _ in shares]
    schedule = steps_per_epoch(SAMPLES, BATCH, len(shares))
    inner = [torch.optim.SGD(m.parameters(), lr=LR, momentum=0.9) for m in ranks]
    cosine = [
        torch.optim.lr_scheduler.LambdaLR(o, lambda t: 0.5 * (1 + math.cos(math.pi * min(1.0, t / schedule))))
        for o in inner
    ]
    sampler = GlobalSampler(SAMPLES, 0, len(shares))
    momentum = {name: torch.zeros_like(p) for name, p in start.named_parameters()}
    done = 0
    for step in range(steps):
        for r, model in enumerate(ranks):
            x, y = data.load_batch(dataset, sampler.step(0, step * BATCH, BATCH, shares, r).indices)
            inner[r].zero_grad()
            (F.cross_entropy(model(x), y, reduction="sum") / len(x)).backward()
            inner[r].step()
            cosine[r].step()
        done += 1
        if done == local_steps or step == steps - 1:
            with torch.no_grad():
                for name, p in start.named_parameters():
                    own = [dict(m.named_parameters())[name] for m in ranks]
                    change = sum(n * done * (p - q) for n, q in zip(shares, own, strict=True))
                    change = change / (sum(shares) * done)
                    momentum[name] = 0.9 * momentum[name] + change
                    p -= 0.7 * (change + 0.9 * momentum[name])
                    for q in own:
                        q.copy_(p)
            done = 0
    return start.state_dict()


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    args = [*TINY, "--rank-shares", "3,1", "--sync", "local", "--local-steps", "3", "--save-every", "0"]
    out = {"whole": run_ranks(2, [*args, "--max-steps", "7", "--output-dir", str(root / "whole")], root)}
    # Stopped after step 5, inside the second round (steps 4-6), and resumed to step 7.
    resumed = [*args, "--output-dir", str(root / "resumed")]
    out["first"] = run_ranks(2, [*resumed, "--max-steps", "5"], root)
    out["second"] = run_ranks(2, [*resumed, "--max-steps", "7"], root)
    return root, out


def test_two_ranks_at_3_to_1_equal_one_process_simulating_the_rounds_and_the_outer_step(local_runs):
    root, out = local_runs
    diff = relative_difference(weights(root / "whole" / FINAL), simulate([24, 8], 3, 7))
    assert diff <= 1e-5
    assert out["whole"][0].of("sync")[0]["mode"] == "local"


def test_a_run_resumed_inside_a_round_equals_the_uninterrupted_one(local_runs):
    root, out = local_runs
    assert [r.of("resume")[0]["step"] for r in out["second"]] == [5, 5]
    diff = relative_difference(weights(root / "resumed" / FINAL), weights(root / "whole" / FINAL))
    assert diff <= 1e-5


def test_one_rank_with_one_local_step_is_the_inner_step_then_the_outer_nesterov_step(tmp_path):
    """As docs/trainer.md says: with nobody to average with, the outer step still applies to the rank's
    own change every --local-steps steps."""
    args = [*TINY, "--sync", "local", "--local-steps", "1", "--max-steps", "2", "--save-every", "0"]
    run_ranks(1, [*args, "--output-dir", str(tmp_path)], tmp_path)
    assert relative_difference(weights(tmp_path / FINAL), simulate([32], 1, 2)) <= 1e-5
