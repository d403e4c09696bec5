"""Per-host state for the inventory screen, learnt from the results of any run (status.yml tells the most).

Reachability comes from every result; hardware facts (GPU count, rank plan, image variant, master) from the
hardware role's set_fact results; Docker, image and containers from playbooks/status.yml's probes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import HostResult

# The status.yml tasks whose results we read (their names are the contract with that playbook).
TASK_DOCKER = "Ask Docker for its version"
TASK_IMAGE = "Read the loaded trainer image id"
TASK_CONTAINERS = "List the rank containers and their state"
# a loop over [cpu, gpu], run once on the controller
TASK_CONTROLLER_IMAGES = "Read the controller's image ids"
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
)


@dataclass(frozen=True)
class ContainerState:
    name: str
    state: str  # running, exited, restarting, created...
    exit_code: int | None
    restarts: int


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
        if event.task == TASK_DOCKER:
            state.docker = str(res.get("stdout", "")).strip() if res.get("rc") == 0 else "down"
        elif event.task == TASK_IMAGE:
            image = str(res.get("stdout", "")).strip().replace("sha256:", "")
            state.image = image[:12] if res.get("rc") == 0 and image else "missing"
        elif event.task == TASK_CONTROLLER_IMAGES:
            for item in res.get("results") or []:
                image = str(item.get("stdout", "")).strip().replace("sha256:", "")
                if item.get("rc") == 0 and image:
                    self.controller_images[str(item.get("item"))] = image[:12]
        elif event.task == TASK_CONTAINERS and res.get("rc") == 0:
            state.containers = [c for c in map(_container, res.get("stdout_lines") or []) if c]


def _container(line: str) -> ContainerState | None:
    """ "/hetero-rank-0 running 0 0" (name, state, exit code, restart count) as docker inspect prints it."""
    parts = line.split()
    if len(parts) != 4:
        return None
    name, state, code, restarts = parts
    return ContainerState(
        name.lstrip("/"), state, int(code) if code.lstrip("-").isdigit() else None, int(restarts or 0)
    )
