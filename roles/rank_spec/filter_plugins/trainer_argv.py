"""`hetero_trainer_argv`: the trainer flags for a host's settings, from the one settings schema.

The flag each inventory setting becomes, and which values are left out, are hetero_train/settings.py's
(`trainer_argv`); this filter only hands it the host's variables.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def trainer_argv(host_vars) -> list[str]:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # a controller whose Python lacks the installed package
    from hetero_train import settings

    values = {name: host_vars[name] for name in settings.BY_NAME if name in host_vars}
    return settings.trainer_argv(values)


class FilterModule:
    def filters(self):
        return {"hetero_trainer_argv": trainer_argv}
