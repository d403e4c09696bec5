"""Your own code in the trainer image (hetero_user_code), the controller's part of it (roles/image):

- `hetero_user_code_error`: the setting's own rule (hetero_train/settings.py, the words the TUI's form uses),
  then the directory: it exists, and says what it needs in requirements.txt or pyproject.toml;
- `hetero_user_code_requirements`: what to install, one requirement per line: requirements.txt's lines, or
  pyproject.toml's [project] dependencies; torch is left out (the image's own torch is the one that works
  with its CUDA or CPU build);
- `hetero_user_code_missing`: pip's refusal to find a requirement, as one line naming it and the fix.

Each error filter returns "" when all is well, otherwise ONE line naming the variable and the fix.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[3]
WHERE = "inventory/group_vars/all.yml (or the -e you passed)"
FILES = ("requirements.txt", "pyproject.toml")  # read in this order: the first one present says it all
IMAGE_OWN = {"torch"}  # in every variant already, built for its CPU or CUDA


class _Problem(Exception):
    pass


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _inventory_problem(value) -> str | None:
    """hetero_train.settings' rule for hetero_user_code (also where the controller lacks the package)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from hetero_train.settings import inventory_problem

    return inventory_problem("hetero_user_code", value)


def _from_requirements_txt(path: Path) -> list[str]:
    lines = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        if line.startswith("-") or line.endswith("\\"):
            raise _Problem(
                f"{path} line {number} ({line!r}) is not a plain requirement; list each package on its own"
                " line (no pip options, includes or continuations: the wheels come from the wheelhouse)"
            )
        lines.append(line)
    return lines


def _from_pyproject(path: Path) -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11 on the controller
        raise _Problem(
            f"{path} needs Python 3.11 on the controller to be read; list them in requirements.txt"
        ) from None
    try:
        project = tomllib.loads(path.read_text()).get("project", {})
    except tomllib.TOMLDecodeError as e:
        raise _Problem(f"{path} is not valid TOML ({e}); fix it") from None
    if "dependencies" in project.get("dynamic", []):
        raise _Problem(
            f"{path} declares its dependencies dynamic; list them in a requirements.txt beside it instead"
        )
    return [str(d) for d in project.get("dependencies", [])]


def _requirements(directory: Path) -> tuple[Path, list[str]]:
    """(the file read, its requirements without the image's own)."""
    source = next((directory / name for name in FILES if (directory / name).is_file()), None)
    if source is None:
        raise _Problem(
            f"{directory} has neither requirements.txt nor pyproject.toml; add a requirements.txt listing"
            " what your code imports (an empty one if it needs only torch)"
        )
    lines = _from_requirements_txt(source) if source.name == "requirements.txt" else _from_pyproject(source)
    kept = []
    for line in lines:
        try:
            name = canonicalize_name(Requirement(line).name)
        except InvalidRequirement as e:
            reason = str(e).splitlines()[0]  # packaging adds the line again, with a caret, below
            raise _Problem(
                f"{source}: {line!r} is not a requirement pip understands ({reason}); fix it"
            ) from None
        if name not in IMAGE_OWN:
            kept.append(line)
    return source, kept


def user_code_error(path) -> str:
    """The first problem with hetero_user_code, or "" (also when it is unset)."""
    problem = _inventory_problem(path)
    if problem:
        return f"{problem}; fix hetero_user_code in {WHERE}"
    text = _text(path)
    if not text:
        return ""
    directory = Path(text)
    if not directory.is_dir():
        what = "is a file, not a directory" if directory.exists() else "does not exist on the controller"
        return f"hetero_user_code: {text} {what}; set hetero_user_code to your project's directory in {WHERE}"
    try:
        _requirements(directory)
    except _Problem as e:
        return f"hetero_user_code: {e}"
    return ""


def user_code_requirements(path) -> list[str]:
    """The requirements to install in the image, in the project's order (checked by user_code_error first)."""
    return _requirements(Path(_text(path)))[1]


def user_code_missing(pip_output, path, wheelhouse, python_version) -> str:
    """One line from pip download's failure: which requirement it could not find, and the fix."""
    text = _text(pip_output)
    found = re.findall(r"No matching distribution found for (\S+)", text)
    errors = [line.removeprefix("ERROR: ") for line in text.splitlines() if line.startswith("ERROR:")]
    source = _requirements(Path(_text(path)))[0]
    if not found:  # another refusal (conflicting pins, a broken wheel): pip's own last word
        reason = errors[-1] if errors else (text.splitlines() or ["pip download failed"])[-1]
        return f"hetero_user_code: the requirements in {source} cannot be gathered: {reason}; fix {source}"
    package = found[-1]
    return (
        f"hetero_user_code: {package} (in {source}) is neither in the wheelhouse nor downloadable from a"
        f" package index here; put a wheel of it for Python {python_version} on Linux into {wheelhouse}"
        f" (pip download --dest {wheelhouse} --python-version {python_version} --only-binary=:all:"
        f" '{package}' on a machine with internet), or remove it from {source}"
    )


class FilterModule:
    def filters(self):
        return {
            "hetero_user_code_error": user_code_error,
            "hetero_user_code_requirements": user_code_requirements,
            "hetero_user_code_missing": user_code_missing,
        }
