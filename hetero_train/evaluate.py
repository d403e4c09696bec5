"""Evaluation on a held-out split: --eval-fraction of the data, a seeded pick that training never sees,
evaluated every --eval-every steps and at the end.

Every rank evaluates a part of the split proportional to its share, with the bare model (no DDP: the parts
differ in size) in eval mode and no gradients; the ranks' summed losses and correct counts are gathered and
added, so the numbers are those one process would get on the same weights.
"""

from __future__ import annotations

import torch
from torch.utils.data import Subset

from .errors import BadInput
from .learner import Learner
from .loader import Feed
from .rendezvous import World
from .shares import largest_remainder

SPLIT_SEED = 7_919  # the held-out pick's own generator: not any epoch's order


def split(dataset, fraction: float, seed: int, world_size: int) -> tuple[object, Subset | None]:
    """(the samples to train on, the held-out ones or None). Both keep the data set's num_classes."""
    if not fraction:
        return dataset, None
    n = len(dataset)
    held = round(n * fraction)
    if held < world_size:
        raise BadInput(
            f"--eval-fraction {fraction:g}: holds out {held} of {n} samples, fewer than one for each of the"
            f" {world_size} rank(s); raise --eval-fraction (or --dataset-size)"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + SPLIT_SEED))
    parts = Subset(dataset, sorted(order[held:].tolist())), Subset(dataset, sorted(order[:held].tolist()))
    for part in parts:
        part.num_classes = getattr(dataset, "num_classes", None)
    return parts


class Evaluation:
    def __init__(self, held_out: Subset | None, every: int, feed: Feed):
        self.held_out, self.every, self.feed = held_out, every, feed

    def due(self, step: int, total_steps: float) -> bool:
        """Every `every` steps and at the last one; never without a held-out split."""
        return self.held_out is not None and (step % self.every == 0 or step == total_steps)

    def run(self, learner: Learner, world: World, shares: list[int]) -> dict:
        """{"eval_loss", "eval_accuracy" (None when the outputs are not class scores), "eval_samples"}."""
        parts = largest_remainder(shares, len(self.held_out))
        start = sum(parts[: world.rank])
        mine = list(range(start, start + parts[world.rank]))
        share = shares[world.rank]  # what fits: a training chunk's size (--micro-batch, or the fitting one)
        batch = learner.recipe.micro_batch or min(share, learner.fitting_chunk.size or share)
        loss, correct, classified = measure(learner, self.feed, self.held_out, mine, batch)
        gathered = world.all_gather((loss, correct, classified))
        n = len(self.held_out)
        accuracy = sum(c for _, c, _ in gathered) / n if all(k for _, _, k in gathered) else None
        return {
            "eval_loss": round(sum(s for s, _, _ in gathered) / n, 6),
            "eval_accuracy": None if accuracy is None else round(accuracy, 6),
            "eval_samples": n,
        }


def measure(learner: Learner, feed: Feed, dataset, indices: list[int], batch: int) -> tuple[float, int, bool]:
    """The summed per-sample loss and the correct count over `indices` of `dataset`, and whether the
    outputs were class scores (batch x classes) to count correct ones in."""
    model, training = learner.model, learner.model.training
    total, correct, classified = 0.0, 0, True
    model.eval()
    try:
        with torch.no_grad():
            for x, y in feed.over(dataset, indices, max(1, batch)):
                x, y = learner.to_device(x, y)
                with learner.autocast():
                    out = model(x)
                total += float(learner.summed_loss(out.float(), y))
                classified = classified and out.dim() == 2
                if classified:
                    correct += int((out.argmax(1) == y).sum())
    finally:
        model.train(training)
    return total, correct, classified
