"""A host's form fields (the inventory's per-host variables) and the checks each field alone must pass.

Checks that need the other hosts (a name or address used twice, an explicit rank taken) are the
inventory's (`Inventory.validate_host`); the whole cluster's rank rule is hetero_train/rank_plan.py's.
"""

from __future__ import annotations

import ipaddress
import re

from hetero_train.settings import HOST_BY_NAME, as_text

HOST_FIELDS = ("name", "ansible_host", "ansible_user", "ansible_port", "hetero_ranks", "hetero_rank")
# Ansible's own SSH port (minimum, maximum); hetero_ranks and hetero_rank are settings.HOST_SETTINGS, the
# rules the rank plan checks them with. All may be left empty.
PORT_RANGE = (1, 65535)
NUMBERS = ("ansible_port", *HOST_BY_NAME)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
INVENTORY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_USER = re.compile(r"^[a-z_][a-z0-9_.-]*\$?$", re.IGNORECASE)


def whole_number_problem(field_name: str, value: object) -> str | None:
    """A message when `value` is not an acceptable whole number for `field_name`, else None."""
    if field_name in HOST_BY_NAME:
        problem = HOST_BY_NAME[field_name].problem(value)
        return f"{field_name}: {problem}" if problem else None
    typed = as_text(value)
    if not typed:
        return None
    low, high = PORT_RANGE
    if isinstance(value, bool) or not typed.lstrip("-").isdigit() or int(typed) < low:
        return f"{field_name}: must be a whole number >= {low} (got {typed!r})"
    if int(typed) > high:
        return f"{field_name}: a port is {low}-{high} (got {typed})"
    return None


def host_value(field_name: str, value: object) -> object:
    """The YAML value for a typed host field: ints for numbers, None for blanks."""
    typed = as_text(value)
    if not typed:
        return None
    if field_name in NUMBERS and typed.lstrip("-").isdigit():
        return int(typed)
    return typed


def int_or_none(value: object) -> int | None:
    typed = as_text(value)
    return int(typed) if typed.lstrip("-").isdigit() else None


def valid_address(address: str) -> bool:
    """An IPv4/IPv6 address or a DNS host name."""
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(address)) and not re.fullmatch(r"[0-9.]+", address)


def user_problem(user: str) -> str | None:
    if user and not _USER.match(user):
        return f"ansible_user: {user!r} is not a user name"
    return None
