"""`hetero_rank_plan`: the rank plan (hetero_train/rank_plan.py) for the cluster group's hostvars.

Only an adapter: hostvars -> `HostSpec`s, and a `RankPlanError` -> `{"error": "..."}`, so the playbook can
fail with that one line, on purpose, before anything is changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # a controller whose Python lacks the installed package

from hetero_train.rank_plan import HostSpec, RankPlanError, plan_ranks  # noqa: E402

__all__ = ["HostSpec", "RankPlanError", "hetero_rank_plan", "plan_ranks"]


def _spec_from_hostvars(name: str, hostvars) -> HostSpec:
    hv = hostvars[name]
    if "hetero_gpu_count" not in hv:
        raise RankPlanError(
            f"host {name}: no hardware facts (unreachable, or left out by --limit); "
            "make it reachable and run on the whole cluster group"
        )
    return HostSpec(
        name=name,
        address=str(hv.get("ansible_host") or name),
        gpu_count=int(hv["hetero_gpu_count"]),
        ranks=hv.get("hetero_ranks"),
        first_rank=hv.get("hetero_rank"),
        cluster_addr=hv.get("hetero_cluster_addr") or None,
    )


def hetero_rank_plan(host_names, hostvars) -> dict:
    """`groups['cluster'] | hetero_rank_plan(hostvars)` -> the plan, or {"error": one line}."""
    try:
        return plan_ranks([_spec_from_hostvars(name, hostvars) for name in host_names])
    except RankPlanError as err:
        return {"error": str(err)}


class FilterModule:
    def filters(self):
        return {"hetero_rank_plan": hetero_rank_plan}
