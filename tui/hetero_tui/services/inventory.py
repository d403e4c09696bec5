"""The user's inventory and training settings: load, validate as you type, save keeping comments and order.

The inventory file holds the hosts (all.children.cluster.hosts, see inventory/hosts.yml); the training
settings live in group_vars/all.yml beside it. Both are read and written with ruamel.yaml's round-trip
mode, so the user's comments, key order and quoting survive an edit (yaml_comments.py).
Nothing is written while anything fails validation: a host's fields are checked by host_form.py, the
settings by settings_form.py (the one settings schema), the cluster by hetero_train/rank_plan.py.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from hetero_train import rank_plan
from hetero_train.fsutil import atomic_replace_text
from hetero_train.settings import as_text

from . import REPO_ROOT
from .host_form import (
    HOST_FIELDS,
    INVENTORY_NAME,
    host_value,
    int_or_none,
    user_problem,
    valid_address,
    whole_number_problem,
)
from .settings_form import SETTINGS_FIELDS, setting_value, validate_settings
from .yaml_comments import add_blank_line_after, put_tail, spaced, take_tail

__all__ = [
    "HOST_FIELDS",
    "SETTINGS_FIELDS",
    "HostEntry",
    "Inventory",
    "InventoryInvalid",
    "validate_settings",
]


class InventoryInvalid(ValueError):
    """save() refused: `errors` maps each bad field to its message; no file was touched."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


@dataclass
class HostEntry:
    """One machine of the cluster group, as written in the inventory."""

    name: str
    address: str  # ansible_host, or the name when unset
    ranks: int | None = None  # hetero_ranks (None: derived from the GPU count)
    rank: int | None = None  # hetero_rank, an explicit first rank
    vars: dict = field(default_factory=dict)  # every other host variable (ansible_user, ansible_port, ...)

    @property
    def local(self) -> bool:
        return self.vars.get("ansible_connection") == "local"

    def fields(self) -> dict[str, str]:
        """The form's fields as strings ("" for unset)."""
        values = {
            "name": self.name,
            "ansible_host": self.address if self.address != self.name else "",
            "ansible_user": self.vars.get("ansible_user", ""),
            "ansible_port": self.vars.get("ansible_port", ""),
            "hetero_ranks": self.ranks,
            "hetero_rank": self.rank,
        }
        return {key: "" if value is None else str(value) for key, value in values.items()}


def default_inventory_path(repo_root: Path = REPO_ROOT) -> Path:
    """inventory/mine.yml (the user's own, made from the example), else inventory/hosts.yml (the example),
    else inventory/local.yml (this machine alone)."""
    folder = Path(repo_root) / "inventory"
    for name in ("mine.yml", "hosts.yml"):
        if (folder / name).exists():
            return folder / name
    return folder / "local.yml"


# --- the inventory --------------------------------------------------------------------------------------


class Inventory:
    """An inventory file and its group_vars/all.yml, edited in memory, saved only when valid."""

    def __init__(
        self, path: Path, doc, text: str, settings_path: Path, settings_doc, settings_text: str | None
    ):
        self.path = Path(path)
        self.settings_path = settings_path
        self._doc = doc
        self._text = text
        self._settings_doc = settings_doc
        self._settings_text = settings_text

    # loading and saving ---------------------------------------------------------------------------------
    @staticmethod
    def _yaml() -> YAML:
        yaml = YAML()  # round-trip: comments, order and quotes survive
        yaml.preserve_quotes = True
        yaml.indent(mapping=2, sequence=4, offset=2)
        yaml.width = 4096  # never re-wrap the user's long lines
        return yaml

    @classmethod
    def load(cls, path: Path | str) -> Inventory:
        """Read the inventory at `path` and group_vars/all.yml beside it (absent: no settings yet)."""
        path = Path(path)
        yaml = cls._yaml()
        text = path.read_text()
        doc = yaml.load(text) or CommentedMap()
        settings_path = path.parent / "group_vars" / "all.yml"
        settings_text = settings_path.read_text() if settings_path.exists() else None
        settings_doc = (yaml.load(settings_text) if settings_text else None) or CommentedMap()
        return cls(path, doc, text, settings_path, settings_doc, settings_text)

    def _dump(self, doc, original: str | None) -> str:
        yaml = self._yaml()
        yaml.explicit_start = bool(original and original.lstrip().startswith("---"))
        out = io.StringIO()
        yaml.dump(doc, out)
        return out.getvalue()

    def _changes(self) -> list[tuple[Path, str]]:
        """(file, new text) for every file whose text in memory differs from the file."""
        changes = []
        hosts_text = self._dump(self._doc, self._text)
        if hosts_text != self._text:
            changes.append((self.path, hosts_text))
        if self._settings_text is not None or len(self._settings_doc) > 0:  # no settings file, none set: none
            settings_text = self._dump(self._settings_doc, self._settings_text or "---\n")
            if settings_text != self._settings_text:
                changes.append((self.settings_path, settings_text))
        return changes

    @property
    def dirty(self) -> bool:
        """True when memory differs from the files."""
        return bool(self._changes())

    def save(self) -> list[Path]:
        """Write the files that changed (atomically); raise InventoryInvalid and write nothing on any error.

        Returns the paths written."""
        errors = self.errors()
        if errors:
            raise InventoryInvalid(errors)
        written = []
        for path, text in self._changes():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_replace_text(path, text)
            if path == self.path:
                self._text = text
            else:
                self._settings_text = text
            written.append(path)
        return written

    # reading ------------------------------------------------------------------------------------------
    def _cluster(self, create: bool = False) -> CommentedMap | None:
        node = self._doc
        for key in ("all", "children", "cluster", "hosts"):
            if not isinstance(node, dict) or node.get(key) is None:
                if not create:
                    return None
                node[key] = CommentedMap()
            node = node[key]
        return node

    @property
    def hosts(self) -> list[HostEntry]:
        """The cluster group's hosts in file order."""
        cluster = self._cluster() or {}
        return [self._entry(name, hv) for name, hv in cluster.items()]

    def host(self, name: str) -> HostEntry:
        cluster = self._cluster() or {}
        if name not in cluster:
            raise KeyError(name)
        return self._entry(name, cluster[name])

    @staticmethod
    def _entry(name: str, hv) -> HostEntry:
        hv = dict(hv or {})
        address = str(hv.pop("ansible_host", None) or name)
        return HostEntry(
            name=str(name),
            address=address,
            ranks=int_or_none(hv.pop("hetero_ranks", None)),
            rank=int_or_none(hv.pop("hetero_rank", None)),
            vars=hv,
        )

    def host_vars(self, name: str) -> dict:
        """The host's variables merged as Ansible would from this file: all.vars < cluster vars < host."""
        merged: dict = {}
        root = self._doc.get("all") or {}
        merged.update(root.get("vars") or {})
        cluster = (root.get("children") or {}).get("cluster") or {}
        merged.update(cluster.get("vars") or {})
        hv = (cluster.get("hosts") or {}).get(name)
        if hv is None and name not in (cluster.get("hosts") or {}):
            raise KeyError(name)
        merged.update(hv or {})
        merged.setdefault("ansible_host", name)
        return dict(merged)

    @property
    def settings(self) -> dict:
        """The training settings from group_vars/all.yml (only the keys it sets)."""
        return {key: self._settings_doc[key] for key in SETTINGS_FIELDS if key in self._settings_doc}

    # validation ---------------------------------------------------------------------------------------
    def validate_host(self, fields: Mapping[str, object], original: str | None = None) -> dict[str, str]:
        """Check a host form against the other hosts; `original` is the name being edited (None: new).

        Keys of the result are HOST_FIELDS names."""
        errors: dict[str, str] = {}
        others = [h for h in self.hosts if h.name != original]
        name = as_text(fields.get("name", original or ""))
        if not name:
            errors["name"] = "name: required, the host's inventory name (e.g. laptop)"
        elif not INVENTORY_NAME.match(name):
            errors["name"] = f"name: letters, digits, '_', '.' and '-' only (got {name!r})"
        elif any(h.name == name for h in others):
            errors["name"] = f"name: another host is already called {name}; pick another name"
        address = as_text(fields.get("ansible_host", "")) or name
        if "ansible_host" in fields or original is None:
            if not valid_address(address):
                errors["ansible_host"] = f"ansible_host: {address!r} is not an IP address or host name"
            else:
                clash = next((h.name for h in others if h.address.lower() == address.lower()), None)
                if clash:
                    errors["ansible_host"] = (
                        f"ansible_host: {clash} already has address {address}; list each machine once "
                        f"(give {clash} hetero_ranks: N to run several ranks there)"
                    )
        if user_problem(as_text(fields.get("ansible_user", ""))):
            errors["ansible_user"] = user_problem(as_text(fields.get("ansible_user", "")))
        for key in ("ansible_port", "hetero_ranks", "hetero_rank"):
            if key in fields:
                message = whole_number_problem(key, fields[key])
                if message:
                    errors[key] = message
        rank = host_value("hetero_rank", fields.get("hetero_rank"))
        if "hetero_rank" not in errors and rank is not None:
            clash = next((h.name for h in others if h.rank == rank), None)
            if clash:
                errors["hetero_rank"] = (
                    f"hetero_rank: {clash} already starts at rank {rank}; pick another or leave it empty"
                )
        return errors

    def errors(self) -> dict[str, str]:
        """Everything wrong with the inventory as it stands in memory: "<host>.<field>", settings fields,
        and "plan" for what only the whole cluster shows (rank gaps or overlaps)."""
        errors: dict[str, str] = {}
        for entry in self.hosts:
            for key, message in self.validate_host(entry.fields(), original=entry.name).items():
                errors[f"{entry.name}.{key}"] = message
        errors.update(validate_settings(self.settings))
        if not errors:
            plan = self.rank_plan()
            if "error" in plan:
                errors["plan"] = plan["error"]
        return errors

    def rank_plan(self, gpu_counts: Mapping[str, int] | None = None) -> dict:
        """The project's rank plan (hetero_train/rank_plan.py) for these hosts, or {"error": line}.

        GPU counts come from the last gathered facts; a host without facts counts as a CPU host."""
        counts = gpu_counts or {}
        specs = [
            rank_plan.HostSpec(
                name=h.name,
                address=h.address,
                gpu_count=int(counts.get(h.name) or 0),
                ranks=h.ranks,
                first_rank=h.rank,
            )
            for h in self.hosts
        ]
        try:
            return rank_plan.plan_ranks(specs)
        except rank_plan.RankPlanError as err:
            return {"error": str(err)}

    # editing ------------------------------------------------------------------------------------------
    def add_host(self, fields: Mapping[str, object]) -> dict[str, str]:
        """Append a host; returns the errors and changes nothing when there are any."""
        errors = self.validate_host(fields, original=None)
        if errors:
            return errors
        name = as_text(fields["name"])
        cluster = self._cluster(create=True)
        names = list(cluster)
        if names and spaced(cluster, names[:-1]):
            add_blank_line_after(
                cluster, names[-1]
            )  # the user separates hosts by a blank line: so does this one
        cluster[name] = None
        self._apply(name, fields)
        return {}

    def update_host(self, name: str, fields: Mapping[str, object]) -> dict[str, str]:
        """Change a host's fields (a new "name" renames it in place); errors change nothing."""
        cluster = self._cluster()
        if cluster is None or name not in cluster:
            return {"name": f"name: no host {name} in {self.path}"}
        errors = self.validate_host(fields, original=name)
        if errors:
            return errors
        new_name = as_text(fields.get("name", name)) or name
        if new_name != name:
            position = list(cluster).index(name)
            tail = take_tail(cluster, name)
            value = cluster.pop(name)
            cluster.insert(position, new_name, value)
            put_tail(cluster, new_name, tail)
        self._apply(new_name, fields)
        return {}

    def remove_host(self, name: str) -> None:
        cluster = self._cluster()
        if cluster is None or name not in cluster:
            raise KeyError(name)
        names = list(cluster)
        position = names.index(name)
        tail = take_tail(cluster, name)  # the next host's header: it stays
        if position > 0:
            take_tail(cluster, names[position - 1])  # this host's header goes with it
            put_tail(cluster, names[position - 1], tail)
        del cluster[name]

    def update_settings(self, fields: Mapping[str, object]) -> dict[str, str]:
        """Change training settings; errors change nothing. New keys go to the end of all.yml."""
        unknown = [key for key in fields if key not in SETTINGS_FIELDS]
        errors = {key: f"{key}: not a training setting ({', '.join(SETTINGS_FIELDS)})" for key in unknown}
        errors.update(validate_settings(fields))
        if errors:
            return errors
        for key, value in fields.items():
            coerced = setting_value(key, value)
            if self._settings_doc.get(key) != coerced or key not in self._settings_doc:
                self._settings_doc[key] = coerced
        return {}

    def _apply(self, name: str, fields: Mapping[str, object]) -> None:
        cluster = self._cluster()
        if cluster[name] is None:
            cluster[name] = CommentedMap()
        hv = cluster[name]
        # The comment after a host's last line (often the next host's header) stays after its last line.
        tail = take_tail(cluster, name)
        for key in HOST_FIELDS[1:]:
            if key not in fields:
                continue
            value = host_value(key, fields[key])
            if value is None:
                hv.pop(key, None)
            elif hv.get(key) != value:
                hv[key] = value
        if not hv:
            cluster[name] = None  # "name:" rather than "name: {}"
        put_tail(cluster, name, tail)
