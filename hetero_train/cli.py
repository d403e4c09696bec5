"""`hetero-train`: parse and validate the command line into one frozen Config, then train.

Nothing heavy is imported here, so bad input is reported in a fraction of a second, as one line, with
exit code 2 and no files written.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import distenv
from .config import Config
from .errors import BadInput, PeerLost, Terminated

MODELS = ("simple_cnn", "resnet18", "resnet50")
DATASETS = ("synthetic_image", "cifar10", "imagenet")
POLICIES = ("static", "dynamic", "adaptive")
BACKENDS = ("auto", "gloo", "nccl")
# Long enough for a slow CPU rank's step (a resnet50 step on a laptop CPU takes tens of seconds), short
# enough that the survivors of a vanished laptop stop within minutes rather than torch's 30.
DEFAULT_COLLECTIVE_TIMEOUT = 600.0


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; users asked for one line naming the problem."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise BadInput(message + " (see hetero-train --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="hetero-train",
        description="Exact, load-balanced data-parallel training across GPU and CPU machines.",
    )
    g = p.add_argument_group("model and data")
    g.add_argument("--model", choices=MODELS, default="simple_cnn")
    g.add_argument("--dataset", choices=DATASETS, default="synthetic_image")
    g.add_argument("--data-dir", type=Path, default=Path("./data"), help="where cifar10/imagenet live")
    g.add_argument("--dataset-size", type=int, help="use only the first N samples (synthetic: N samples)")
    g = p.add_argument_group("training")
    g.add_argument("--batch-size", type=int, help="per-rank batch (default: 64 on a GPU, 32 on a CPU)")
    g.add_argument("--global-batch-size", type=int, help="samples per step over all ranks (default: sum)")
    g.add_argument("--epochs", type=int, default=1)
    g.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule follows --epochs)")
    g.add_argument("--learning-rate", type=float, default=0.01)
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("load balancing")
    g.add_argument("--enable-load-balancing", action="store_true")
    g.add_argument("--load-balance-policy", choices=POLICIES, default="dynamic")
    g.add_argument("--rebalance-every", type=int, default=10, help="steps between share re-plans")
    g.add_argument("--rank-shares", help="fixed relative per-rank shares, e.g. 3,1")
    g.add_argument("--gpu-profiles", type=Path, metavar="FILE", help="measured speeds (a gpu_profiles.json)")
    g = p.add_argument_group("cluster")
    g.add_argument("--backend", choices=BACKENDS, default="auto")
    g.add_argument("--master-addr", help="default: $MASTER_ADDR or 127.0.0.1")
    g.add_argument("--master-port", type=int, help="default: $MASTER_PORT or 29500")
    g.add_argument("--rank", type=int, help="default: $RANK or 0")
    g.add_argument("--world-size", type=int, help="default: $WORLD_SIZE or 1")
    g.add_argument("--local-rank", type=int, help="default: $LOCAL_RANK or 0 (picks the GPU)")
    g.add_argument("--rendezvous-timeout", type=float, default=120.0, help="seconds to wait for all ranks")
    g.add_argument(
        "--collective-timeout",
        type=float,
        default=DEFAULT_COLLECTIVE_TIMEOUT,
        metavar="SECONDS",
        help="how long a collective waits for a silent peer before this rank stops (exit 3) to resume"
        " later; a slow rank's step must fit in it (default 600)",
    )
    g = p.add_argument_group("outputs")
    g.add_argument("--output-dir", type=Path, default=Path("./experiments"))
    g.add_argument("--experiment-name", help="default: <model>_<dataset>; a rerun resumes it")
    g.add_argument("--save-every", type=int, default=100, help="snapshot every N steps (0: only at the end)")
    g.add_argument("--keep-snapshots", type=int, default=3)
    g.add_argument("--log-every", type=int, default=10, help="log a step record every N steps")
    g.add_argument("--enable-profiling", action="store_true", help="write a torch.profiler trace per rank")
    return p


def _positive(name: str, value, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise BadInput(f"{name} {value} must be {bound}")


def _parse_shares(text: str | None, world_size: int) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        shares = tuple(float(s) for s in text.split(","))
    except ValueError:
        raise BadInput(f"--rank-shares {text!r} must be comma-separated numbers such as 3,1") from None
    if any(s <= 0 for s in shares):
        raise BadInput(f"--rank-shares {text!r}: every share must be > 0")
    if len(shares) != world_size:
        raise BadInput(
            f"--rank-shares {text!r} has {len(shares)} values but the world size is {world_size};"
            " give one share per rank"
        )
    return shares


def parse_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    a = build_parser().parse_args(argv)
    dist = distenv.resolve(a.rank, a.world_size, a.local_rank, a.master_addr, a.master_port, env)
    for name, value in [
        ("--batch-size", a.batch_size),
        ("--global-batch-size", a.global_batch_size),
        ("--epochs", a.epochs),
        ("--max-steps", a.max_steps),
        ("--learning-rate", a.learning_rate),
        ("--rebalance-every", a.rebalance_every),
        ("--dataset-size", a.dataset_size),
        ("--rendezvous-timeout", a.rendezvous_timeout),
        ("--keep-snapshots", a.keep_snapshots),
        ("--log-every", a.log_every),
    ]:
        _positive(name, value)
    _positive("--save-every", a.save_every, allow_zero=True)
    if not a.collective_timeout > 0:  # also refuses nan
        raise BadInput(
            f"--collective-timeout {a.collective_timeout:g} must be > 0 seconds; give how long ranks wait for"
            f" a silent peer, longer than the slowest rank's step (default {DEFAULT_COLLECTIVE_TIMEOUT:g})"
        )
    if a.global_batch_size is not None and a.global_batch_size < dist.world_size:
        raise BadInput(
            f"--global-batch-size {a.global_batch_size} is smaller than the world size {dist.world_size};"
            " every rank needs at least one sample per step"
        )
    if a.gpu_profiles is not None and not a.gpu_profiles.is_file():
        raise BadInput(f"--gpu-profiles {a.gpu_profiles}: no such file; pass a gpu_profiles.json")
    name = a.experiment_name or f"{a.model}_{a.dataset}"
    if not name or "/" in name or name in (".", ".."):
        raise BadInput(f"--experiment-name {name!r} must be a plain directory name")
    return Config(
        model=a.model,
        dataset=a.dataset,
        data_dir=a.data_dir,
        dataset_size=a.dataset_size,
        batch_size=a.batch_size,
        global_batch_size=a.global_batch_size,
        epochs=a.epochs,
        max_steps=a.max_steps,
        learning_rate=a.learning_rate,
        seed=a.seed,
        enable_load_balancing=a.enable_load_balancing,
        load_balance_policy=a.load_balance_policy,
        rebalance_every=a.rebalance_every,
        rank_shares=_parse_shares(a.rank_shares, dist.world_size),
        gpu_profiles=a.gpu_profiles,
        backend=a.backend,
        rendezvous_timeout=a.rendezvous_timeout,
        collective_timeout=a.collective_timeout,
        output_dir=a.output_dir,
        experiment_name=name,
        save_every=a.save_every,
        keep_snapshots=a.keep_snapshots,
        log_every=a.log_every,
        enable_profiling=a.enable_profiling,
        dist=dist,
    )


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_config(argv)
        # PID 1 in a container has no default action for SIGTERM, so without a handler `docker stop` or a
        # stopping engine would wait out its timeout and SIGKILL the rank mid-step.
        signal.signal(signal.SIGTERM, _raise_terminated)
        # The small CPU image has torch without numpy; torch warns about it on import. Nothing here uses
        # numpy (cifar10 only, with torchvision), so keep stderr to what the user needs.
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        from .trainer import run  # torch is imported only once the input is known to be good

        return run(config)
    except BadInput as e:
        print(f"hetero-train: error: {e}", file=sys.stderr, flush=True)
        return 2
    except PeerLost as e:
        print(f"hetero-train: {e}", file=sys.stderr, flush=True)
        return PeerLost.exit_code
    except Terminated:
        print(
            "hetero-train: stopped by SIGTERM (docker stop, or the Docker engine is stopping);"
            " the last snapshot is kept and a rerun resumes from it",
            file=sys.stderr,
            flush=True,
        )
        return Terminated.exit_code
    except KeyboardInterrupt:
        print(
            "hetero-train: interrupted; the last snapshot is kept and a rerun resumes from it",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
