"""The project's one way to run a playbook: ansible-runner, the way a user's ansible-playbook runs it.

Two doors onto the same run: the TUI's `PlaybookRun(...).start()` (a background thread; events arrive
through `on_event`) and `run_playbook(...)` (this thread; returns a PlaybookResult), which the tests and
scripts use. Every run is kept under <artifacts>/<ident>/ (ansible-runner's artifacts: stdout,
job_events/, status, rc, command) plus hetero_tui.json (which playbook, inventory, when), so past runs can
be reopened; the TUI's artifacts are <repo>/artifacts. `on_event` is called from the runner's thread with
events.py dataclasses, in order, ending with exactly one RunFinished. Secrets: a become password goes to
ansible through ansible-runner's prompt answering (kept in memory, never in the artifacts' command line or
env), and the events are redacted.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from . import REPO_ROOT
from .events import RunEvent, RunFinished, stats_of, translate
from .playbook_result import PlaybookResult
from .rungrid import RunGrid

# The TUI's actions and the playbook each runs ("up" is the whole pipeline, site.yml).
PLAYBOOKS = {
    "preflight": "playbooks/preflight.yml",
    "provision": "playbooks/provision.yml",
    "distribute": "playbooks/distribute.yml",
    "launch": "playbooks/launch.yml",
    "stop": "playbooks/stop.yml",
    "status": "playbooks/status.yml",
    "collect": "playbooks/collect.yml",
    "up": "site.yml",
    "site": "site.yml",
}
META_FILE = "hetero_tui.json"
BECOME_PROMPT = r"^BECOME password.*:\s*$"


def artifacts_dir(repo_root: Path = REPO_ROOT) -> Path:
    return Path(repo_root) / "artifacts"


class PlaybookRun:
    """One playbook run. `start()` returns at once; events arrive through `on_event` (runner thread).

    `playbook` is an action name from PLAYBOOKS or a path to a playbook file (a relative one is taken from
    `repo_root`). `args` are more ansible-playbook arguments (`--tags`, `-e`...); `env` adds to or overrides
    the environment ansible-playbook gets (ANSIBLE_CONFIG is the repo's ansible.cfg unless set there)."""

    def __init__(
        self,
        playbook: str | Path,
        inventory: Path | str,
        on_event: Callable[[RunEvent], None] | None = None,
        *,
        repo_root: Path = REPO_ROOT,
        extravars: Mapping | None = None,
        limit: str | None = None,
        become_password: str | None = None,
        artifacts: Path | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: int | None = None,
    ):
        self.repo_root = Path(repo_root)
        name = str(playbook)
        self.action = name if name in PLAYBOOKS else Path(name).stem
        self.playbook = (self.repo_root / PLAYBOOKS.get(name, name)).resolve()
        self.inventory = Path(inventory).resolve()
        self.on_event = on_event
        self.extravars = dict(extravars or {})
        self.limit = limit
        self._become_password = become_password
        self.args = list(args)
        self.env = dict(env or {})
        self.timeout = timeout  # seconds; ansible-runner ends a longer run with status "timeout"
        self.artifacts = Path(artifacts) if artifacts else artifacts_dir(self.repo_root)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        self.ident = f"{stamp}-{self.action}"
        self.grid = RunGrid()
        self._cancel = threading.Event()
        self._started = threading.Event()
        self._done = threading.Event()
        self.finished: RunFinished | None = None
        self._runner = None  # ansible-runner's Runner, once it ran: reads this run's artifacts back

    @property
    def artifact_dir(self) -> Path:
        return self.artifacts / self.ident

    @property
    def running(self) -> bool:
        return self._started.is_set() and not self._done.is_set()

    def start(self) -> PlaybookRun:
        """Run in a new background thread; returns at once."""
        threading.Thread(target=self.run, name=f"playbook-{self.ident}", daemon=True).start()
        return self

    def cancel(self) -> None:
        """Ask ansible-runner to stop the run (it ends ansible-playbook); RunFinished says "canceled"."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> RunFinished | None:
        self._done.wait(timeout)
        return self.finished

    def result(self) -> PlaybookResult:
        """The finished run as data: ansible-playbook's output and ansible-runner's events, unredacted,
        read back from the artifacts (for tests and scripts; the screens use the redacted events)."""
        if self.finished is None:
            raise RuntimeError(f"run {self.ident} has not finished")
        stdout_file = self.artifact_dir / "stdout"
        stdout = stdout_file.read_text(errors="replace") if stdout_file.is_file() else ""
        ran = self._runner is not None and (self.artifact_dir / "job_events").is_dir()
        events = list(self._runner.events) if ran else []  # in counter order
        return PlaybookResult(
            status=self.finished.status,
            rc=self.finished.rc,
            stdout=stdout or self.finished.error,  # a run that could not start says why instead
            events=events,
            error=self.finished.error,
        )

    # the runner thread ---------------------------------------------------------------------------------
    def _deliver(self, event: RunEvent) -> None:
        self.grid.apply(event)
        if self.on_event:
            self.on_event(event)

    def _handle(self, raw: dict) -> bool:
        for event in translate(raw):
            self._deliver(event)
        return True  # keep the event in the artifacts

    def run(self) -> RunFinished:
        """Run on the caller's thread (say, the app's thread worker) until the end; returns the RunFinished
        that on_event also receives. One run per PlaybookRun."""
        if self._started.is_set():
            raise RuntimeError(f"run {self.ident} was already started")
        self._started.set()
        import ansible_runner  # imported here: a second or so, paid by the worker, not the UI

        self.artifacts.mkdir(parents=True, exist_ok=True)
        # ansible-runner writes the extra vars (and envvars) in clear into <private_data_dir>/env/: a private
        # temp dir per run, removed at the end, so a token passed as an extra var is never kept on disk.
        private_dir = tempfile.mkdtemp(prefix="hetero-tui-run-")
        meta = {
            "action": self.action,
            "playbook": str(self.playbook),
            "inventory": str(self.inventory),
            "limit": self.limit,
            "started": time.time(),
        }
        runner = None
        control_dir = tempfile.mkdtemp(prefix="hetero-tui-cp-", dir="/tmp")  # short: socket paths are limited
        try:
            if not self.inventory.is_file():
                # ansible-runner would take a missing path for inline inventory text: say it plainly instead
                raise FileNotFoundError(f"inventory: {self.inventory} does not exist; pick an inventory file")
            args = [*self.args, "--ask-become-pass"] if self._become_password else self.args
            runner = self._runner = ansible_runner.run(
                private_data_dir=private_dir,
                project_dir=str(self.repo_root),  # ansible-playbook's working directory
                artifact_dir=str(self.artifacts),
                ident=self.ident,
                playbook=str(self.playbook),
                inventory=str(self.inventory),
                limit=self.limit,
                extravars=self.extravars or None,
                cmdline=shlex.join(args) if args else None,  # ansible-runner splits it with shlex
                passwords={BECOME_PROMPT: self._become_password} if self._become_password else None,
                envvars=self._envvars(control_dir),
                event_handler=self._handle,
                cancel_callback=self._cancel.is_set,
                quiet=True,
                json_mode=False,
                timeout=self.timeout,
            )
            status, rc = runner.status, runner.rc
        except Exception as err:  # a broken setup must end the run visibly, not kill the thread silently
            status, rc = "error", None
            meta["error"] = f"{type(err).__name__}: {err}"
        finally:
            shutil.rmtree(control_dir, ignore_errors=True)  # idle masters exit by themselves (ControlPersist)
            shutil.rmtree(private_dir, ignore_errors=True)
        stats = _stats_from_runner(runner) if runner is not None else {}
        meta.update(status=status, rc=rc, finished=time.time())
        if self.artifact_dir.exists():
            _scrub_command_file(self.artifact_dir)
            (self.artifact_dir / META_FILE).write_text(json.dumps(meta, indent=1))
        self.finished = RunFinished(status=status, rc=rc, stats=stats, error=meta.get("error", ""))
        try:
            self._deliver(self.finished)
        finally:
            self._done.set()
        return self.finished

    def _envvars(self, control_dir: str) -> dict[str, str]:
        """ansible-playbook's environment (over the user's): what a user's run in a terminal would get."""
        ansible_cfg = Path(self.env.get("ANSIBLE_CONFIG") or self.repo_root / "ansible.cfg")
        return {
            "ANSIBLE_CONFIG": str(ansible_cfg),
            "ANSIBLE_NOCOLOR": "1",
            # ansible-runner turns host-key checking off unless told; a run here is as strict as
            # ansible-playbook with the same ansible.cfg and environment
            "ANSIBLE_HOST_KEY_CHECKING": _host_key_checking(ansible_cfg),
            "PATH": _path_with_venv(),
            # own SSH control sockets: another ansible run on this machine cannot close ours
            "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir,
            **self.env,
        }


def run_playbook(
    playbook: str | Path,
    inventory: Path | str,
    *args: str,
    extravars: Mapping | None = None,
    env: Mapping[str, str] | None = None,
    repo_root: Path = REPO_ROOT,
    artifacts: Path | None = None,
    limit: str | None = None,
    timeout: int | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> PlaybookResult:
    """`ansible-playbook -i inventory playbook args...` on this thread, returning what it did: the
    synchronous door for tests and scripts. Artifacts are kept under `artifacts`, else in a temporary
    folder removed once the result is read."""
    keep = artifacts is not None
    folder = Path(artifacts) if keep else Path(tempfile.mkdtemp(prefix="hetero-run-"))
    run = PlaybookRun(
        playbook,
        inventory,
        on_event,
        repo_root=repo_root,
        extravars=extravars,
        limit=limit,
        artifacts=folder,
        args=args,
        env=env,
        timeout=timeout,
    )
    try:
        run.run()
        return run.result()
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _host_key_checking(ansible_cfg: Path) -> str:
    """What ansible-playbook would use: the environment, else ansible.cfg, else Ansible's default (on)."""
    if "ANSIBLE_HOST_KEY_CHECKING" in os.environ:
        return os.environ["ANSIBLE_HOST_KEY_CHECKING"]
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ansible_cfg)
    return parser.get("defaults", "host_key_checking", fallback="True")


def _path_with_venv() -> str:
    """PATH with this interpreter's bin first: ansible-playbook of a venv that is not activated."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _scrub_command_file(artifact_dir: Path) -> None:
    """ansible-runner keeps the whole environment in <artifact>/command; the user's environment may hold
    tokens, so keep only the command line and working directory."""
    path = artifact_dir / "command"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and "env" in data:
        data["env"] = {key: data["env"][key] for key in ("ANSIBLE_CONFIG", "PATH") if key in data["env"]}
        path.write_text(json.dumps(data, indent=1))


def _stats_from_runner(runner) -> dict:
    for event in reversed(list(runner.events)):
        if event.get("event") == "playbook_on_stats":
            return stats_of(event)
    return {}
