"""Your code as the trainer image's last layer (hetero_user_code, roles/image), built on this machine's Docker
(tests/ansible/playbooks/image_build.yml: the controller's part of roles/image, nothing shipped):

- the image runs your code and the requirement installed from the wheelhouse, with no index;
- a code change makes one new layer on top of the same layers (all a registry sends, or a host pulls);
- an unchanged project rebuilds nothing;
- a requirement that is neither in the wheelhouse nor downloadable stops the run in one line naming it and
  the fix, before anything is built, with the last image, its tag and the wheelhouse untouched.

Everything has names of its own (image name, cache, wheelhouse, context under tmp), so the repository's
build/ and the images other tests use are left alone."""

from __future__ import annotations

import json
import subprocess
import zipfile

import pytest
from hetero_tui.services.runner import run_playbook

from tests.ansible.playbook import REPO

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

LOCAL = REPO / "inventory" / "local.yml"
IMAGE = "hetero-trainer-codetest"
MISSING = "hetero-no-such-dep==1.0"
STOP = "image : Stop when a requirement is neither in the wheelhouse nor downloadable"
BUILD = "image : Build your code onto the trainer image (changed only when the image id changes)"


def _wheel(wheelhouse) -> None:
    """A one-module wheel, hetero_demo_dep 1.0 (ANSWER = 42): a requirement only this wheelhouse has."""
    wheelhouse.mkdir(parents=True)
    info = "hetero_demo_dep-1.0.dist-info"
    with zipfile.ZipFile(wheelhouse / "hetero_demo_dep-1.0-py3-none-any.whl", "w") as whl:
        whl.writestr("hetero_demo_dep.py", "ANSWER = 42\n")
        whl.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: hetero-demo-dep\nVersion: 1.0\n")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A project of a user's own (mypkg, needing torch and hetero-demo-dep) and this module's build places."""
    root = tmp_path_factory.mktemp("user-code")
    project = root / "project"
    (project / "mypkg").mkdir(parents=True)
    (project / "mypkg" / "__init__.py").write_text('VERSION = "v1"\n')
    (project / "requirements.txt").write_text("torch\nhetero-demo-dep\n")
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # left out of the image
    _wheel(root / "wheels")
    yield root
    subprocess.run(["docker", "rmi", f"{IMAGE}:cpu-user", f"{IMAGE}:cpu-trainer"], capture_output=True)


def build(place, name, extra_env=None):
    settings = {
        "hetero_user_code": str(place / "project"),
        "hetero_image_name": IMAGE,
        "hetero_image_cache_dir": str(place / "images"),
        "hetero_image_user_wheelhouse": str(place / "wheels"),
        "hetero_image_user_context": str(place / "context"),
    }
    return run_playbook(
        "tests/ansible/playbooks/image_build.yml", LOCAL, extravars=settings, env=extra_env,
        artifacts=place / "runs" / name, timeout=1200,
    )  # fmt: skip


def built(place) -> str:
    return (place / "images" / ".built-cpu-user").read_text().strip()


def inspect(image: str) -> dict:
    out = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def in_image(image: str, code: str) -> str:
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", code],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


@pytest.fixture(scope="module")
def first(base_image, place):
    run = build(place, "first")
    assert run.rc == 0, run.stdout[-4000:]
    return built(place)


def test_the_image_runs_your_code_and_its_requirement_from_the_wheelhouse(first):
    probe = "import mypkg, hetero_demo_dep, os; print(mypkg.VERSION, hetero_demo_dep.ANSWER, os.getuid())"
    assert in_image(first, probe) == "v1 42 1000"
    assert in_image(first, "import os; print(os.path.exists('/opt/user-code/.git'))") == "False"
    # Under it, the trainer image unchanged: every layer of it, in order.
    trainer = inspect(f"{IMAGE}:cpu-trainer")["RootFS"]["Layers"]
    assert inspect(first)["RootFS"]["Layers"][: len(trainer)] == trainer


def test_a_code_change_is_one_new_small_layer_and_no_change_rebuilds_nothing(place, first):
    (place / "project" / "mypkg" / "__init__.py").write_text('VERSION = "v2"\n')
    changed = build(place, "changed")
    assert changed.rc == 0, changed.stdout[-4000:]
    second = built(place)
    assert second != first and in_image(second, "import mypkg; print(mypkg.VERSION)") == "v2"
    before, after = inspect(first)["RootFS"]["Layers"], inspect(second)["RootFS"]["Layers"]
    assert len(after) == len(before) and after[:-1] == before[:-1] and after[-1] != before[-1]
    top = json.loads(
        subprocess.run(
            ["docker", "history", "--no-trunc", "--format", "{{json .}}", second],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()[0]
    )  # fmt: skip
    assert "COPY" in top["CreatedBy"] and top["Size"].endswith("B") and not top["Size"].endswith(("MB", "GB"))

    again = build(place, "again")
    assert again.rc == 0, again.stdout[-4000:]
    assert built(place) == second
    assert again.statuses(BUILD, "localhost") == ["ok"]


def test_a_requirement_nowhere_to_be_found_is_one_line_and_nothing_is_built(place, first):
    last = built(place)
    wheels = sorted(p.name for p in (place / "wheels").iterdir())
    (place / "project" / "requirements.txt").write_text(f"torch\nhetero-demo-dep\n{MISSING}\n")
    try:
        # No index reachable (as on a controller without internet): only the wheelhouse could have it.
        run = build(place, "missing", {"PIP_NO_INDEX": "1"})
    finally:
        (place / "project" / "requirements.txt").write_text("torch\nhetero-demo-dep\n")

    assert run.rc != 0
    assert run.failures() == [(STOP, "localhost")], run.stdout[-4000:]
    message = run.result(STOP, "localhost")["msg"]
    assert message.startswith(f"hetero_user_code: {MISSING} (in {place}/project/requirements.txt) is neither")
    assert f"into {place}/wheels (pip download --dest {place}/wheels" in message and "\n" not in message
    # Nothing half-done: no image built, the last one still tagged and recorded, no wheel added.
    assert run.statuses(BUILD, "localhost") == []
    assert built(place) == last and inspect(f"{IMAGE}:cpu-user")["Id"] == last
    assert sorted(p.name for p in (place / "wheels").iterdir()) == wheels
