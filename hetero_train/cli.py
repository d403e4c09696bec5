"""`hetero-train`: parse and validate the command line into one frozen Config, then train.

Nothing heavy is imported here, so bad input is reported in a fraction of a second, as one line, with
exit code 2 and no files written.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import distenv, settings
from .config import Config
from .errors import BadInput, PeerLost, Terminated, WentOnWithout

# The rank's place in the world comes from the environment (RANK, WORLD_SIZE, ...) as torchrun sets it; these
# flags override it. Not settings: the inventory derives them (see distenv.py).
DIST_FLAGS = (
    ("--master-addr", str, "default: $MASTER_ADDR or 127.0.0.1"),
    ("--rank", int, "default: $RANK or 0"),
    ("--world-size", int, "default: $WORLD_SIZE or 1"),
    ("--local-rank", int, "default: $LOCAL_RANK or 0 (picks the GPU)"),
)
DEFAULT_COLLECTIVE_TIMEOUT = settings.BY_FLAG["--collective-timeout"].default


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; users asked for one line naming the problem."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise BadInput(message + " (see hetero-train --help)")


def build_parser() -> argparse.ArgumentParser:
    """Every setting's flag from the schema (settings.py), taken as text: parse_config checks each value
    with the schema's own rule, so the trainer, preflight and the TUI refuse the same values alike."""
    p = _OneLineParser(
        prog="hetero-train",
        description="Exact, load-balanced data-parallel training across GPU and CPU machines.",
    )
    for setting in settings.SETTINGS:
        if setting.flag is None:
            continue
        default = "" if setting.default is None else f" (default {setting.default})"
        metavar = "{" + ",".join(setting.choices) + "}" if setting.choices else setting.kind.__name__.upper()
        p.add_argument(setting.flag, metavar=metavar, help=setting.help + default)
    p.add_argument(
        settings.BALANCING_SWITCH,
        action="store_true",
        help="re-plan the split by measured speed (the policy: --load-balance-policy)",
    )
    p.add_argument("--enable-profiling", action="store_true", help="write a torch.profiler trace per rank")
    for flag, kind, help_text in DIST_FLAGS:
        p.add_argument(flag, type=kind, help=help_text)
    return p


def _values(args: argparse.Namespace) -> dict[str, object]:
    """Each setting's typed value (its default when not given); one line and BadInput on a bad one."""
    values = {}
    for setting in settings.SETTINGS:
        if setting.flag is None:
            continue
        given = getattr(args, setting.flag[2:].replace("-", "_"))
        problem = setting.problem(given)
        if problem:
            raise BadInput(f"{setting.flag}: {problem}")
        parsed = setting.parse(given)
        values[setting.flag] = setting.default if parsed is None else parsed
    return values


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


def _optional_path(value: object) -> Path | None:
    return None if value is None else Path(str(value))


def parse_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    a = build_parser().parse_args(argv)
    v = _values(a)
    # An unset --master-port leaves MASTER_PORT (or its default) to distenv, checked by the same rule.
    port = settings.BY_FLAG["--master-port"].parse(a.master_port)
    dist = distenv.resolve(a.rank, a.world_size, a.local_rank, a.master_addr, port, env)
    global_batch = v["--global-batch-size"]
    if global_batch is not None and global_batch < dist.world_size:
        raise BadInput(
            f"--global-batch-size {global_batch} is smaller than the world size {dist.world_size};"
            " every rank needs at least one sample per step"
        )
    size = v["--dataset-size"]
    if global_batch is not None and size is not None and global_batch > size:
        # Also caught later against the real data set (plan.py); here preflight sees it before any host.
        raise BadInput(
            f"--global-batch-size {global_batch} is larger than the dataset ({size} samples);"
            " lower --global-batch-size or raise --dataset-size"
        )
    micro = v["--micro-batch"]
    if global_batch is not None and micro > global_batch:  # larger than any share; preflight sees it here
        raise BadInput(
            f"--micro-batch {micro} is larger than --global-batch-size {global_batch}; use at most a rank's"
            " share, or 0 for whole shares"
        )
    gpu_profiles = _optional_path(v["--gpu-profiles"])
    if gpu_profiles is not None and not gpu_profiles.is_file():
        raise BadInput(f"--gpu-profiles {gpu_profiles}: no such file; pass a gpu_profiles.json")
    policy = v["--load-balance-policy"]
    return Config(
        model=v["--model"],
        dataset=v["--dataset"],
        loss=v["--loss"],
        sync=v["--sync"],
        precision=v["--precision"],
        powersgd_rank=v["--powersgd-rank"],
        powersgd_warmup=v["--powersgd-warmup"],
        local_steps=v["--local-steps"],
        micro_batch=v["--micro-batch"],
        data_dir=Path(v["--data-dir"]),
        dataset_size=v["--dataset-size"],
        batch_size=v["--batch-size"],
        global_batch_size=global_batch,
        epochs=v["--epochs"],
        max_steps=v["--max-steps"] or None,  # 0: no limit, the full epochs
        learning_rate=v["--learning-rate"],
        optimizer=v["--optimizer"],
        weight_decay=v["--weight-decay"],
        warmup_steps=v["--warmup-steps"],
        eval_fraction=v["--eval-fraction"],
        eval_every=v["--eval-every"],
        data_workers=v["--data-workers"],
        seed=v["--seed"],
        enable_load_balancing=a.enable_load_balancing and policy != "none",
        load_balance_policy=policy,
        rebalance_every=v["--rebalance-every"],
        rank_shares=_parse_shares(v["--rank-shares"], dist.world_size),
        leave_out_percent=v["--leave-out-percent"],
        gpu_profiles=gpu_profiles,
        backend=v["--backend"],
        rendezvous_timeout=v["--rendezvous-timeout"],
        collective_timeout=v["--collective-timeout"],
        peer_timeout=v["--peer-timeout"],
        min_ranks=v["--min-ranks"],
        output_dir=Path(v["--output-dir"]),
        # Your own code's names (my_pkg.models:build) make a directory name too, without the colon.
        experiment_name=v["--experiment-name"] or f"{v['--model']}_{v['--dataset']}".replace(":", "."),
        save_every=v["--save-every"],
        keep_snapshots=v["--keep-snapshots"],
        log_every=v["--log-every"],
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
        sys.stdout.flush()
        # A collective that timed out leaves work inside torch's process group; its C++ teardown at
        # interpreter exit can abort ("terminate called without an active exception", exit -6) after
        # the line above. Snapshots and metrics are already on disk: leave at once with the documented code.
        os._exit(PeerLost.exit_code)
    except WentOnWithout as e:
        print(f"hetero-train: {e}", file=sys.stderr, flush=True)
        return 0
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
