"""The data step's rules and arithmetic (roles/data), run on the controller.

- `hetero_data_error`: the data settings' own rules (hetero_train/settings.py, the words the TUI's form uses),
  then the rules between them and the controller's directory: ONE line naming the variable and the fix.
- `hetero_data_fetch`: where a fetched hetero_data_url lands in the controller's cache, and whether it is an
  archive to unpack; `hetero_data_tree`: the controller directory the hosts receive.
- `hetero_data_size`, `hetero_rsync_stats`, `hetero_data_room_error`, `hetero_data_sent`: sizes and lines.

Each error filter returns "" when all is well.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

REPO = Path(__file__).resolve().parents[3]
WHERE = "inventory/group_vars/all.yml (or the -e you passed)"
DATA_SETTINGS = ("hetero_data_source", "hetero_data_url", "hetero_data_sha256")
# What ansible.builtin.unarchive unpacks (tar with gzip, bzip2, xz or zstd; zip): anything else is sent as is.
ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".zip")


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _inventory_problem(name: str, value) -> str | None:
    """hetero_train.settings' rule for the setting, also on a controller whose Python lacks the package."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from hetero_train.settings import inventory_problem

    return inventory_problem(name, value)


def data_error(source, url, sha256, dataset="", dataset_dirs=None) -> str:
    """The first problem with the data settings, or "". `dataset_dirs`: what each built-in data set needs
    under hetero_data_dir (roles/validate), checked in a source directory."""
    values = dict(zip(DATA_SETTINGS, (source, url, sha256), strict=True))
    for name, value in values.items():
        problem = _inventory_problem(name, value)
        if problem:
            return f"{problem}; fix {name} in {WHERE}"
    source, url, sha256 = (_text(v) for v in values.values())
    if source and url:
        return (
            "hetero_data_source and hetero_data_url are both set; the data step sends one of them: "
            f"remove one in {WHERE}"
        )
    if url and not sha256:
        return (
            f"hetero_data_url is set without hetero_data_sha256; set hetero_data_sha256 to the sha256 of "
            f"{url} (sha256sum prints it) in {WHERE}"
        )
    if sha256 and not url:
        return f"hetero_data_sha256 is set without hetero_data_url; set both, or remove it, in {WHERE}"
    if not source:
        return ""
    path = Path(source)
    if not path.exists():
        return (
            f"hetero_data_source: {source} does not exist on the controller; fix hetero_data_source in "
            f"{WHERE} (a directory on this machine)"
        )
    if not path.is_dir():
        return (
            f"hetero_data_source: {source} is a file, not a directory; set hetero_data_source to the "
            f"directory that holds it in {WHERE}"
        )
    needed = (dataset_dirs or {}).get(_text(dataset))
    if needed and not (path / needed).is_dir():
        return (
            f"hetero_data_source: {source} has no {needed}, which hetero_dataset {dataset} reads; set "
            f"hetero_data_source to the directory that holds {needed} in {WHERE}"
        )
    return ""


def fetch_error(result, url, sha256) -> str:
    """get_url's result, when the file it left is missing or wrong, as one line: a checksum that does not
    match, or a URL the controller cannot fetch."""
    message = " ".join(_text(result.get("msg")).split())
    actual = re.search(r"did not match .*it was ([0-9a-fA-F]{64})", message)
    if actual:
        return (
            f"hetero_data_sha256: {url} has sha256 {actual.group(1)}, not {_text(sha256)}; fix "
            f"hetero_data_sha256 (or hetero_data_url, if that is the wrong file) in {WHERE}"
        )
    return f"hetero_data_url: the controller cannot fetch {url} ({message}); fix hetero_data_url in {WHERE}"


def fetch_plan(url, sha256, cache_dir) -> dict:
    """Where hetero_data_url lands: {name, archive, download, tree}. The cache is keyed by the sha256, so a
    new version is fetched once and an old one is never mixed into it. A plain file is downloaded straight
    into the tree the hosts receive; an archive beside it, and unpacked into it."""
    name = Path(unquote(urlparse(_text(url)).path)).name or "data"
    home = Path(str(cache_dir)) / _text(sha256).lower()
    archive = name.lower().endswith(ARCHIVES)
    tree = home / "tree"
    return {
        "name": name,
        "archive": archive,
        "download": str(home / name if archive else tree / name),
        "tree": str(tree),
    }


def data_tree(source, url, sha256, cache_dir) -> str:
    """The controller directory the hosts receive: hetero_data_source, or the fetched hetero_data_url's."""
    if _text(source):
        return str(Path(_text(source)))
    return fetch_plan(url, sha256, cache_dir)["tree"]


def tree_size(path) -> dict:
    """{files, bytes} of the regular files under a controller directory (symlinks not followed)."""
    files = total = 0
    for root, _dirs, names in os.walk(str(path)):
        for name in names:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                files += 1
                total += os.path.getsize(full)
    return {"files": files, "bytes": total}


STATS = {
    "files": r"Number of regular files transferred: ([\d,.]+)",
    "bytes": r"Total transferred file size: ([\d,.]+) bytes",
    "total_bytes": r"Total file size: ([\d,.]+) bytes",
    "total_files": r"Number of files: [\d,.]+ \(reg: ([\d,.]+)",
}


def rsync_stats(lines) -> dict:
    """rsync --stats' counts from its output (a list of lines or one text): files and bytes to send (or
    sent), and the totals. Digits are grouped with ',' or '.' depending on the locale."""
    text = "\n".join(lines) if isinstance(lines, list | tuple) else _text(lines)
    found = {}
    for key, pattern in STATS.items():
        match = re.search(pattern, text)
        found[key] = int(re.sub(r"[,.]", "", match.group(1))) if match else 0
    if "reg:" not in text:  # a tree without regular files prints no "(reg: N" part
        found["total_files"] = 0
    return found


def human(size) -> str:
    """1234567 -> '1.2 MB' (decimal units, as df -H and rsync -h print them)."""
    size = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def room_error(host, need, free, data_dir) -> str:
    """One line when the host's filesystem of hetero_data_dir cannot take what is to be sent."""
    if int(need) <= int(free):
        return ""
    return (
        f"host {host}: the data step would send {human(need)} into hetero_data_dir {data_dir} but only "
        f"{human(free)} is free there; free some space on that filesystem, or set hetero_data_dir to a "
        f"directory on a larger one in {WHERE}"
    )


def sent_line(stats, host, data_dir) -> str:
    """What the sending did on one host, in one line."""
    if not stats["files"]:
        return (
            f"{host}: {data_dir} already has all {stats['total_files']} file(s) "
            f"({human(stats['total_bytes'])}); nothing sent"
        )
    return (
        f"{host}: sent {stats['files']} of {stats['total_files']} file(s) ({human(stats['bytes'])} of "
        f"{human(stats['total_bytes'])}) into {data_dir}"
    )


class FilterModule:
    def filters(self):
        return {
            "hetero_data_error": data_error,
            "hetero_data_fetch": fetch_plan,
            "hetero_data_fetch_error": fetch_error,
            "hetero_data_tree": data_tree,
            "hetero_data_size": tree_size,
            "hetero_rsync_stats": rsync_stats,
            "hetero_data_human": human,
            "hetero_data_room_error": room_error,
            "hetero_data_sent": sent_line,
        }
