"""One setting's rule: its type, choices, range or pattern, default and help, and the check every consumer
makes with it (settings.py lists the settings; this module is what each of them is).

No torch import here: the controller and the TUI import this module.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Your own code, named the way setuptools names entry points: an importable module, a colon, a callable.
_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")
REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Setting:
    """One setting. `name` is the inventory variable (None: a trainer-only flag); `flag` the trainer's
    command-line flag (None: a cluster setting the trainer never sees)."""

    name: str | None
    flag: str | None
    kind: type  # int, float, str, bool (true/false, yes/no as YAML and people write them)
    default: object
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: re.Pattern | None = None  # for names: what the text must match
    pattern_help: str = ""
    absolute_path: bool = False
    why: str = ""  # why the range is what it is, said with a value outside it
    form: bool = True  # shown in the TUI's settings form
    env: str | None = None  # reaches the rank containers as this environment variable, not as a flag
    user_code: bool = False  # besides its choices, your own `module:callable` (hetero_train/usercode.py)
    zero: bool = False  # a float whose minimum is 0 takes 0 too (otherwise it must be > 0)

    @property
    def label(self) -> str:
        return self.name or self.flag or "?"

    def problem(self, value: object) -> str | None:
        """What is wrong with `value` (text as typed, or a YAML value), or None when it is acceptable.

        The text never names the setting: each consumer prefixes its own name for it."""
        text = as_text(value)
        if text == "":
            return None
        if self.choices is not None:
            if text in self.choices or (self.user_code and is_reference(text)):
                return None
            own = ", or your own module:callable" if self.user_code else ""
            return f"choose one of {', '.join(self.choices)}{own} (got {text!r})"
        if self.kind is bool:
            return None if text.lower() in _TRUE + _FALSE else f"must be true or false (got {text!r})"
        if self.kind is int:
            if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]+", text):
                return f"must be a whole number {self._range()}{self.why} (got {text!r})"
            return self._out_of_range(int(text))
        if self.kind is float:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if isinstance(value, bool) or not math.isfinite(number):
                return f"must be a number {self._range()}{self.why} (got {text!r})"
            return self._out_of_range(number)
        if self.absolute_path and not text.startswith("/"):
            return f"must be an absolute path on every host, e.g. {self.default} (got {text!r})"
        if self.pattern is not None and not self.pattern.match(text):
            return f"{self.pattern_help} (got {text!r})"
        return None

    def parse(self, value: object):
        """The typed value of an acceptable `value` (None when unset)."""
        text = as_text(value)
        if text == "":
            return None
        if self.kind is bool:
            return text.lower() in _TRUE
        return self.kind(text) if self.kind in (int, float) else text

    def _range(self) -> str:
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"in {low:g}-{high:g}"
        if low is not None:
            return f"> {low:g}" if self._above_zero else f">= {low:g}"
        return ""

    @property
    def _above_zero(self) -> bool:
        """A float with minimum 0 must be > 0 (a rate, a timeout), unless it takes 0 (`zero`)."""
        return self.kind is float and self.minimum == 0 and not self.zero

    def _out_of_range(self, number: float) -> str | None:
        low, high = self.minimum, self.maximum
        too_low = low is not None and (number <= 0 if self._above_zero else number < low)
        if too_low or (high is not None and number > high):
            kind = "whole number" if self.kind is int else "number"
            return f"must be a {kind} {self._range()}{self.why} (got {number:g})"
        return None


def as_text(value: object) -> str:
    """A value as it would stand on a command line; "" for unset."""
    if value is None:
        return ""
    text = str(value).strip()
    return "" if text in ("null", "~", "None") else text


def is_reference(text: str) -> bool:
    """Is `text` your own code (`my_pkg.models:build_model`) rather than a built-in name?"""
    return bool(REFERENCE.match(text))
