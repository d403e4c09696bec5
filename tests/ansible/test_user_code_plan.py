"""hetero_user_code's controller-side rules (roles/image/filter_plugins/user_code.py) as plain Python: which
directory is accepted, what is installed from it, and pip's refusal turned into one line; and preflight
refusing a wrong directory before any host is touched. tests/ansible/test_user_code_image.py builds the
image."""

from __future__ import annotations

import importlib.util

from tests.ansible.playbook import REPO, run_playbook

_spec = importlib.util.spec_from_file_location(
    "hetero_user_code_filter", REPO / "roles" / "image" / "filter_plugins" / "user_code.py"
)
user_code = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(user_code)

WHERE = "inventory/group_vars/all.yml (or the -e you passed)"
# What pip 26 prints on stderr when neither the find-links nor an index has the package.
PIP_MISSING = """\
ERROR: Could not find a version that satisfies the requirement hetero-no-such-dep==1.0 (from versions: none)
ERROR: No matching distribution found for hetero-no-such-dep==1.0
"""


def project(tmp_path, **files):
    root = tmp_path / "proj"
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name.replace("__", ".")).write_text(text)
    return root


def test_unset_and_a_project_with_requirements_pass(tmp_path):
    assert user_code.user_code_error(None) == user_code.user_code_error("") == ""
    root = project(
        tmp_path, requirements__txt="# what we import\nnumpy>=1.24  # arrays\n\nscikit-learn==1.5\n"
    )
    assert user_code.user_code_error(str(root)) == ""
    assert user_code.user_code_requirements(str(root)) == ["numpy>=1.24", "scikit-learn==1.5"]


def test_torch_is_the_images_own_and_is_left_out(tmp_path):
    root = project(tmp_path, requirements__txt="torch>=2.0\nTorch\nnumpy\n")
    assert user_code.user_code_requirements(str(root)) == ["numpy"]


def test_pyproject_dependencies_are_read_when_there_is_no_requirements_txt(tmp_path):
    root = project(tmp_path, pyproject__toml='[project]\nname = "p"\ndependencies = ["torch", "pyyaml>=6"]\n')
    assert user_code.user_code_error(str(root)) == ""
    assert user_code.user_code_requirements(str(root)) == ["pyyaml>=6"]
    bare = project(tmp_path / "bare", pyproject__toml='[project]\nname = "p"\n')
    assert user_code.user_code_requirements(str(bare)) == []


def test_bad_input_is_one_line_naming_the_setting_and_the_fix(tmp_path):
    assert user_code.user_code_error("proj") == (
        "hetero_user_code: must be an absolute path on the controller, e.g. /home/me/my_project (got 'proj');"
        f" fix hetero_user_code in {WHERE}"
    )
    missing = tmp_path / "nowhere"
    assert user_code.user_code_error(str(missing)) == (
        f"hetero_user_code: {missing} does not exist on the controller; set hetero_user_code to your"
        f" project's directory in {WHERE}"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert user_code.user_code_error(str(empty)).startswith(
        f"hetero_user_code: {empty} has neither requirements.txt nor pyproject.toml; add a requirements.txt"
    )
    options = project(tmp_path / "o", requirements__txt="numpy\n--index-url https://example.org/simple\n")
    assert user_code.user_code_error(str(options)).startswith(
        f"hetero_user_code: {options}/requirements.txt line 2 ('--index-url https://example.org/simple') is"
        " not a plain requirement"
    )
    broken = project(tmp_path / "b", requirements__txt="numpy >>= 2\n")
    assert "'numpy >>= 2' is not a requirement pip understands" in user_code.user_code_error(str(broken))
    dynamic = project(tmp_path / "d", pyproject__toml='[project]\nname = "p"\ndynamic = ["dependencies"]\n')
    assert "declares its dependencies dynamic" in user_code.user_code_error(str(dynamic))
    for root in (options, broken, dynamic):
        assert "\n" not in user_code.user_code_error(str(root))


def test_a_package_pip_cannot_find_is_named_with_the_fix(tmp_path):
    root = project(tmp_path, requirements__txt="hetero-no-such-dep==1.0\n")
    line = user_code.user_code_missing(PIP_MISSING, str(root), "/repo/build/wheelhouse/user", "3.11")
    assert line == (
        f"hetero_user_code: hetero-no-such-dep==1.0 (in {root}/requirements.txt) is neither in the wheelhouse"
        " nor downloadable from a package index here; put a wheel of it for Python 3.11 on Linux into"
        " /repo/build/wheelhouse/user (pip download --dest /repo/build/wheelhouse/user --python-version 3.11"
        f" --only-binary=:all: 'hetero-no-such-dep==1.0' on a machine with internet), or remove it from"
        f" {root}/requirements.txt"
    )
    other = user_code.user_code_missing("ERROR: ResolutionImpossible: a conflict\n", str(root), "/w", "3.11")
    assert other == (
        f"hetero_user_code: the requirements in {root}/requirements.txt cannot be gathered:"
        f" ResolutionImpossible: a conflict; fix {root}/requirements.txt"
    )


def test_preflight_refuses_a_project_without_requirements_and_changes_nothing(tmp_path):
    empty = tmp_path / "proj"
    empty.mkdir()
    result = run_playbook(
        "playbooks/preflight.yml",
        REPO / "inventory" / "local.yml",
        tmp_path=tmp_path,
        extra_vars={"hetero_user_code": str(empty)},
    )
    assert result.rc != 0
    [(task, host)] = result.failures()
    assert (
        task == "image : Stop when hetero_user_code is wrong (its own rule, the directory, its requirements)"
    )
    assert result.result(task, host)["msg"] == user_code.user_code_error(str(empty))
    assert result.changed("localhost") == 0
