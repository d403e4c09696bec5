"""Per-host state for the inventory screen, learnt from the results of any run (status.yml tells the most).

Reachability comes from every result; hardware facts (GPU count, rank plan, image variant, master) from the
hardware role's set_fact results; Docker, image and containers from the fact `hetero_status` that
playbooks/status.yml sets per host (whatever its tasks are called).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import HostResult

# The fact playbooks/status.yml sets per host (the contract with that playbook):
# {docker: version | None, variant, image: id | None, controller_image: id | None,
#  containers: [{name, state, exit_code, restarts, left_out}]}; left_out: the trainer's line
#  "rank <r> (<host>) left out: <why>" from the container's log, or None.
STATUS_FACT = "hetero_status"
FACT_KEYS = (
    "hetero_gpu_count",
    "hetero_gpu_models",
    "hetero_cpu_cores",
    "hetero_memory_mb",
    "hetero_image_variant",
    "hetero_host_ranks",
    "hetero_master_host",
    "hetero_cluster_addr",
    "hetero_world_size",
    # roles/link_probe (preflight): this host's link to the master; the master and a lone host have none
    "hetero_link_mbit",
    "hetero_link_rtt_ms",
)


@dataclass(frozen=True)
class ContainerState:
    name: str
    state: str  # running, exited, restarting, created... as Docker says
    exit_code: int | None
    restarts: int
    left_out: str | None = None  # "rank 1 (lap2) left out: its link adds ...": the trainer left it out

    @property
    def shown(self) -> str:
        """The state a user sees: "left out" for a rank the trainer left out (its container exited 0, or
        rank 0 idles on for the others' store), else Docker's."""
        return "left out" if self.left_out else self.state


@dataclass
class HostState:
    name: str
    reachable: bool | None = None  # None: not asked yet
    docker: str | None = None  # server version, or "down"
    image: str | None = None  # short id of the loaded trainer image, or "missing"
    containers: list[ContainerState] = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # FACT_KEYS as last gathered
    error: str = ""  # the last failure's one line

    @property
    def gpu_count(self) -> int | None:
        return self.facts.get("hetero_gpu_count")

    @property
    def ranks(self) -> list[int]:
        return [int(entry["rank"]) for entry in self.facts.get("hetero_host_ranks") or []]

    @property
    def link(self) -> tuple[float, float] | None:
        """(Mbit/s, round-trip ms) to the master as preflight last measured them; None: not measured."""
        mbit, rtt = self.facts.get("hetero_link_mbit"), self.facts.get("hetero_link_rtt_ms")
        try:
            return (float(mbit), float(rtt)) if mbit is not None and rtt is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def is_master(self) -> bool | None:
        master = self.facts.get("hetero_master_host")
        return None if master is None else master == self.name


class HostStates:
    """{host: HostState}, updated by feeding HostResult events (live or replayed from a kept run)."""

    def __init__(self) -> None:
        self.hosts: dict[str, HostState] = {}
        self.controller_images: dict[str, str] = {}  # variant -> short id of the controller's image

    def image_current(self, name: str) -> bool | None:
        """Whether the host has the controller's image of its variant (None: not known)."""
        state = self.hosts.get(name)
        variant = state.facts.get("hetero_image_variant") if state else None
        ours = self.controller_images.get(variant or "")
        if state is None or state.image is None or ours is None:
            return None
        return state.image == ours

    def get(self, name: str) -> HostState:
        if name not in self.hosts:
            self.hosts[name] = HostState(name)
        return self.hosts[name]

    def gpu_counts(self) -> dict[str, int]:
        """GPU counts known from facts (for Inventory.rank_plan)."""
        return {name: s.gpu_count for name, s in self.hosts.items() if s.gpu_count is not None}

    def rank_facts(self) -> dict[str, dict]:
        """{host: facts} for logs.rank_containers."""
        return {
            name: s.facts for name, s in self.hosts.items() if s.facts.get("hetero_host_ranks") is not None
        }

    def apply(self, event) -> None:
        if not isinstance(event, HostResult):
            return
        state = self.get(event.host)
        if event.status == "unreachable":
            state.reachable = False
            state.error = event.message
            return
        if event.status == "skipped":
            return
        state.reachable = True
        res = event.result
        facts = res.get("ansible_facts") or {}
        state.facts.update({key: facts[key] for key in FACT_KEYS if key in facts})
        if event.status == "failed" and not event.ignored:
            state.error = event.message
        status = facts.get(STATUS_FACT)
        if isinstance(status, dict):
            self._apply_status(state, status)

    def _apply_status(self, state: HostState, status: dict) -> None:
        """What status.yml found on the host; a key it leaves out changes nothing."""
        if "docker" in status:
            state.docker = str(status["docker"] or "down")
        if "image" in status:
            state.image = _short_id(status["image"]) or "missing"
        ours = _short_id(status.get("controller_image"))
        if ours and status.get("variant"):
            self.controller_images[str(status["variant"])] = ours
        # A Docker that did not answer says nothing about the containers.
        if "containers" in status and status.get("docker", True):
            state.containers = [c for c in map(_container, status["containers"] or []) if c]


def _short_id(image) -> str:
    """The 12 hex digits docker shows of an image id ("sha256:..."); "" when there is none."""
    return str(image or "").strip().replace("sha256:", "")[:12]


def _container(entry) -> ContainerState | None:
    """{name, state, exit_code, restarts, left_out} as status.yml reports each rank container."""
    if not isinstance(entry, dict) or not entry.get("name"):
        return None
    code, restarts = entry.get("exit_code"), entry.get("restarts")
    return ContainerState(
        str(entry["name"]).lstrip("/"),
        str(entry.get("state") or ""),
        None if code is None else int(code),
        int(restarts or 0),
        str(entry["left_out"]) if entry.get("left_out") else None,
    )
