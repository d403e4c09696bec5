"""The docs a newcomer reads: README.md stays short, and nothing in it or in docs/ points at a missing file.

Fast (reads text files only, no lab). Checked in README.md and docs/*.md:
- README.md is under 200 lines and links every docs/ page (none orphaned, none missing);
- every relative Markdown link resolves to a file in the repository (and its #anchor to a heading);
- every repository path written in code (inline `...` or a fenced block) exists: a token that looks like a
  path (only path characters, and a "/" or a source-file suffix). A bare file name must be the name of some
  file in the repository. Host paths (starting with /), URLs, addresses and placeholders (<name>, *, {a,b},
  ...) are not repository paths and are skipped; generated paths and examples to create are exempt (below).
"""

import functools
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
README_MAX_LINES = 200

# Paths that exist only once something ran: gitignored build outputs, the venv, experiments, TUI artifacts
# and benchmark results. Docs may name them; a fresh clone does not have them.
GENERATED = ("build/", ".venv/", "experiments/", "artifacts/", "bench/results/")
# Example paths the docs tell the reader to create: the walkthrough's copy of inventory/hosts.yml.
EXAMPLES = {"inventory/mine.yml"}
# File names that count as source files even without a "/" before them.
SUFFIXES = (".py", ".yml", ".yaml", ".md", ".j2", ".toml", ".cfg")
# Directories never searched for a bare file name (not part of the project's own files).
NOT_SEARCHED = {".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"}

PATH_TOKEN = re.compile(r"[A-Za-z0-9_.\-/]+")
# A code span may run over a line break, not over a blank line.
INLINE_CODE = re.compile(r"(?<!`)`((?:[^`\n]|\n(?![ \t]*\n))+)`(?!`)")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?$(.*?)^```", re.M | re.S)


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@functools.cache
def repo_file_names() -> frozenset[str]:
    names = set()
    for _root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in NOT_SEARCHED]
        names.update(dirs, files)
    return frozenset(names)


def code_tokens(text: str) -> list[str]:
    """Whitespace-separated words of inline code spans and fenced code blocks."""
    spans = [m.group(1) for m in FENCE.finditer(text)]
    spans += [m.group(1) for m in INLINE_CODE.finditer(FENCE.sub("", text))]
    return [word for span in spans for word in span.split()]


def repo_path(token: str) -> str | None:
    """The repository path a code word names, or None when it names none (host path, URL, placeholder...)."""
    token = token.strip("\"'(),;:").removeprefix("./")
    if token.endswith(".") and not token.endswith(".."):
        token = token[:-1]
    if not token or not PATH_TOKEN.fullmatch(token):
        return None  # placeholders (<name>, *, {a,b}, $VAR, …), URLs (://), images (name:tag), key=value
    if token.startswith(("/", "~", "...")) or token[0].isdigit():
        return None  # host paths, an elided prefix, addresses, port/protocol pairs (10.77.0.1/24, 7946/tcp)
    if token.endswith("/s"):
        return None  # a unit in printed output: samples/s, MB/s
    if "/" not in token and not token.endswith(SUFFIXES):
        return None
    return token


def missing_paths(text: str, file_names: frozenset[str]) -> list[str]:
    missing = []
    for token in code_tokens(text):
        path = repo_path(token)
        if path is None or path.startswith(GENERATED) or path in EXAMPLES:
            continue
        if "/" in path.rstrip("/"):
            target = (REPO / path).resolve()
            if not target.is_relative_to(REPO) or not target.exists():
                missing.append(path)
        elif not (REPO / path).exists() and path.rstrip("/") not in file_names:
            missing.append(path)
    return sorted(set(missing))


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", markdown), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z][a-z+.\-]*:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        exists = dest.is_relative_to(REPO) and dest.exists()
        if not exists or (anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text())):
            broken.append(target)
    return broken


def test_readme_is_under_200_lines():
    lines = README.read_text().splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_links_every_docs_page_and_only_existing_ones():
    linked = {
        (REPO / target.partition("#")[0]).resolve()
        for target in LINK.findall(README.read_text())
        if target.startswith("docs/")
    }
    assert linked, "README.md links no docs/ page"
    assert not [rel(p) for p in linked if not p.is_file()], "README.md links docs pages that do not exist"
    orphans = [rel(p) for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not orphans, f"docs pages README.md does not link: {orphans}"


@pytest.mark.parametrize("page", pages(), ids=rel)
def test_relative_links_resolve(page):
    assert not broken_links(page), f"{rel(page)} links to missing files or headings: {broken_links(page)}"


@pytest.mark.parametrize("page", pages(), ids=rel)
def test_repository_paths_exist(page):
    missing = missing_paths(page.read_text(), repo_file_names())
    assert not missing, f"{rel(page)} names files that are not in the repository: {missing}"


def test_the_checks_catch_a_missing_file():
    names = repo_file_names()
    assert missing_paths("see `common.md` and `DESIGN.md`", names) == ["DESIGN.md", "common.md"]
    assert missing_paths("`inventory/group_vars/nope.yml`", names) == ["inventory/group_vars/nope.yml"]
    assert missing_paths("```\nansible-playbook -i inventory/hosts.yml playbooks/nope.yml\n```", names) == [
        "playbooks/nope.yml"
    ]
    fine = "`/var/lib/hetero-cluster` `build/lab/inventory.yml` `<name>/x.yml` `10.77.0.1/24` `https://x.org/a.md`"
    assert missing_paths(fine, names) == []


def test_ansible_lint_names_only_existing_docs():
    named = re.findall(r"[\w.\-/]+\.md\b", (REPO / ".ansible-lint").read_text())
    assert not [n for n in named if not (REPO / n).exists()]
