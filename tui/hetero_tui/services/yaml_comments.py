"""Comment surgery on ruamel.yaml round-trip maps: keep a host's header comment and the blank line
between hosts where the user put them when hosts are added, renamed or removed.

ruamel keeps the comment that follows an entry on that entry's deepest last key; these helpers move it.
"""

from __future__ import annotations

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken


def tail_slot(parent: CommentedMap, key) -> tuple[CommentedMap, object]:
    """Where ruamel keeps the comment that follows `parent[key]`'s last line: (map, key) of its deepest
    last entry."""
    value = parent[key]
    while isinstance(value, CommentedMap) and len(value) > 0:
        parent, key = value, list(value)[-1]
        value = parent[key]
    return parent, key


def spaced(cluster: CommentedMap, names: list) -> bool:
    """Whether a blank line follows these hosts in the file."""
    for name in names:
        holder, last = tail_slot(cluster, name)
        slot = holder.ca.items.get(last)
        if slot and len(slot) > 2 and slot[2] is not None and "\n\n" in slot[2].value:
            return True
    return False


def take_tail(parent: CommentedMap, key):
    holder, last = tail_slot(parent, key)
    slot = holder.ca.items.get(last)
    if not slot or len(slot) < 3:
        return None
    token, slot[2] = slot[2], None
    return token


def put_tail(parent: CommentedMap, key, token) -> None:
    if token is None:
        return
    holder, last = tail_slot(parent, key)
    slot = holder.ca.items.setdefault(last, [None, None, None, None])
    slot[2] = token


def add_blank_line_after(parent: CommentedMap, key) -> None:
    """Make a blank line follow `parent[key]` (keeping any comment already there)."""
    token = take_tail(parent, key)
    if token is None:
        token = CommentToken("\n\n", CommentMark(0), None)
    elif not token.value.endswith("\n\n"):
        token.value += "\n"
    put_tail(parent, key, token)
