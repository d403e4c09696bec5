"""The code stays in small modules with one-way imports: no Python module of hetero_train/ or tui/ is over
400 lines, and neither package imports itself in a circle (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 400
# package name -> the folder that holds it
PACKAGES = {"hetero_train": REPO / "hetero_train", "hetero_tui": REPO / "tui" / "hetero_tui"}


def modules(package: str) -> dict[str, Path]:
    """{dotted module name: file} of every module of the package ("pkg.sub" for pkg/sub/__init__.py)."""
    root = PACKAGES[package]
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's own modules that module `name` imports, anywhere in its body. (Importing pkg.mod also
    runs pkg/__init__.py; that edge is left out, as import-cycle checkers do.)"""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]  # what `from . import x` is relative to
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # `from pkg import sub` imports the module pkg.sub; `from pkg.mod import name`, pkg.mod
            targets.update(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            )
    return {target for target in targets if target in known and target != name}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph as [a, b, ..., a], or None (a depth-first walk)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                done.add(path.pop())
            elif following in path:
                return [*path[path.index(following) :], following]
            elif following not in done:
                path.append(following)
                stack.append(iter(sorted(graph[following])))
    return None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_is_over_400_lines(package):
    long = {
        str(path.relative_to(REPO)): count
        for path in modules(package).values()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by concept): {long}"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_package_has_no_import_cycle(package):
    known = modules(package)
    graph = {name: imported(name, path, known) for name, path in known.items()}
    found = cycle(graph)
    assert found is None, "import cycle: " + " -> ".join(found)


def test_the_cycle_finder_finds_a_cycle_and_relative_imports(tmp_path):
    """The checks above would pass vacuously if they read no import: they see these."""
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
    known = {"p": tmp_path / "__init__.py", "p.x": tmp_path / "x.py", "p.s": tmp_path / "s" / "__init__.py"}
    known["p.s.y"] = tmp_path / "s" / "y.py"
    known["p.s.y"].parent.mkdir()
    known["p.s.y"].write_text("from .. import x\nfrom . import REPO\n\ndef f():\n    from p.s.y import g\n")
    assert imported("p.s.y", known["p.s.y"], known) == {"p.x", "p.s"}
    known["p.x"].write_text("import p.s.y\n\ndef g():\n    from .s.y import f\n")
    assert imported("p.x", known["p.x"], known) == {"p.s.y"}
