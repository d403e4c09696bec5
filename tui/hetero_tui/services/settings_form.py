"""The training settings form: which settings it shows and how a typed value is checked and stored.

Every rule comes from the one settings schema (hetero_train/settings.py), the same the trainer's parser and
preflight use, so a value the form refuses is refused there too, in the same words.
Fields are plain strings as typed ("" means unset: the trainer's default).
"""

from __future__ import annotations

from collections.abc import Mapping

from hetero_train import settings

SETTINGS_FIELDS = tuple(s.name for s in settings.FORM_SETTINGS)
CHOICES = {s.name: s.choices for s in settings.FORM_SETTINGS if s.choices}


def validate_settings(fields: Mapping[str, object]) -> dict[str, str]:
    """Check the training settings given (any subset of SETTINGS_FIELDS); {field: message}."""
    errors: dict[str, str] = {}
    for name, value in fields.items():
        message = settings.inventory_problem(name, value)
        if message:
            errors[name] = message
    return errors


def setting_value(name: str, value: object) -> object:
    """The YAML value to store for a typed, valid setting: a number for numbers, None for blank."""
    return settings.BY_NAME[name].parse(value)
