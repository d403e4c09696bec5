"""roles/hardware/filter_plugins/rank_plan.py, imported as a plain module (it lives outside any package)."""

from __future__ import annotations

import importlib.util
import sys

from tests.ansible.playbook import REPO

_spec = importlib.util.spec_from_file_location(
    "hetero_rank_plan_filter", REPO / "roles" / "hardware" / "filter_plugins" / "rank_plan.py"
)
rank_plan = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = rank_plan  # dataclasses look their module up there
_spec.loader.exec_module(rank_plan)
