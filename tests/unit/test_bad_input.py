"""Bad input: one line naming the problem and the fix, exit code 2, and no files written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hetero_train.cli import main

from .runs import free_port


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


CASES = [
    (["--model", "vgg16"], {}, "--model"),
    (["--dataset", "mnist"], {}, "--dataset"),
    (["--batch-size", "0"], {}, "--batch-size: must be a whole number >= 1 (got 0)"),
    (["--learning-rate", "-1"], {}, "--learning-rate"),
    (["--epochs", "two"], {}, "--epochs"),
    (["--rank-shares", "3,1"], {"WORLD_SIZE": "3", "RANK": "0"}, "world size is 3"),
    (["--rank-shares", "3,x"], {}, "--rank-shares"),
    (["--rank-shares", "3,0"], {"WORLD_SIZE": "2"}, "must be > 0"),
    ([], {"WORLD_SIZE": "2", "RANK": "2"}, "rank 2 is outside 0..1"),
    ([], {"MASTER_PORT": "http"}, "MASTER_PORT"),
    (["--master-port", "70000"], {}, "--master-port: must be a whole number in 1024-65535"),
    ([], {"MASTER_PORT": "80"}, "MASTER_PORT: must be a whole number in 1024-65535, since rank 0 runs"),
    (["--global-batch-size", "100", "--dataset-size", "50"], {}, "larger than the dataset (50 samples)"),
    (["--global-batch-size", "1"], {"WORLD_SIZE": "2"}, "smaller than the world size"),
    (["--gpu-profiles", "nowhere.json"], {}, "--gpu-profiles nowhere.json: no such file"),
    (["--backend", "nccl"], {}, "--backend nccl needs a GPU on every rank"),
    (["--experiment-name", "a/b"], {}, "--experiment-name"),
    (["--collective-timeout", "0"], {}, "--collective-timeout: must be a number > 0 (got 0)"),
    (["--collective-timeout", "-30"], {}, "--collective-timeout: must be a number > 0 (got -30)"),
    (["--collective-timeout", "nan"], {}, "--collective-timeout: must be a number > 0 (got 'nan')"),
    (["--collective-timeout", "ten"], {}, "--collective-timeout: must be a number > 0 (got 'ten')"),
    (["--load-balance-policy", "fastest"], {}, "--load-balance-policy: choose one of none, static, dynamic"),
    (["--sync", "fast"], {}, "--sync: choose one of exact, bf16, powersgd, local, auto (got 'fast')"),
    (["--local-steps", "0"], {}, "--local-steps: must be a whole number >= 1 (got 0)"),
    (["--micro-batch", "64", "--global-batch-size", "32"], {}, "--micro-batch 64 is larger than --global"),
    # known once the plan is: one rank of 16 samples (no balancing, so the shares are fixed)
    (["--micro-batch", "20", "--batch-size", "16"], {}, "larger than rank 0's share of 16"),
]


@pytest.mark.parametrize(("argv", "env", "expected"), CASES, ids=[c[2][:30] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_no_files(workdir, monkeypatch, capsys, argv, env, expected):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code = main([*argv, "--output-dir", str(workdir / "experiments")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("hetero-train: error: ") and expected in err
    assert list(workdir.iterdir()) == []


def test_a_wrong_gpu_profiles_file_is_named(workdir, capsys):
    (workdir / "p.json").write_text('{"ranks": [{"name": "x"}]}')
    code = main(["--enable-load-balancing", "--load-balance-policy", "static", "--gpu-profiles", "p.json"])
    err = capsys.readouterr().err
    assert code == 2 and "p.json" in err and "samples_per_s" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in workdir.iterdir()) == ["p.json"]


@pytest.mark.parametrize("dataset", ["cifar10", "imagenet"])
def test_a_missing_dataset_says_where_it_looked(workdir, capsys, dataset):
    code = main(["--dataset", dataset, "--data-dir", "no-data-here"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(workdir / "no-data-here") in err
    assert list(workdir.iterdir()) == []


def test_an_unreachable_master_is_one_line_after_the_timeout(tmp_path):
    # A real process, so the C++ store's own retry chatter would show if it leaked through.
    env = dict(os.environ, RANK="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    p = subprocess.run(
        [sys.executable, "-m", "hetero_train", "--rendezvous-timeout", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        f"hetero-train: error: master 127.0.0.1:{env['MASTER_PORT']} unreachable within 2 s;"
        " check MASTER_ADDR/firewall"
    ]
    assert p.stdout == "" and list(tmp_path.iterdir()) == []
