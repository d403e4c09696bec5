"""Per-host CPU, memory and GPU figures, sampled every few seconds over the SSH that log streams use.

One long-lived `sh` loop per host (one connection, not one per sample) prints a block every `interval_s`
seconds: the first line of /proc/stat, MemTotal and MemAvailable of /proc/meminfo, and where `nvidia-smi`
exists its per-GPU query as CSV. CPU % is the busy share of the jiffies between two blocks, so the first block
of a connection gives memory and GPUs only. The loop reconnects by itself, with backoff, when the connection
drops. Everything here but HostStatsStream is pure parsing, unit tested alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .logs import CommandLoop, HostConnection

BEGIN, GPU, END = "@@hetero-sample", "@@hetero-gpu", "@@hetero-end"
GPU_QUERY = "index,name,utilization.gpu,memory.used,memory.total"


def sample_script(interval_s: float) -> str:
    """The remote loop: one block per `interval_s` seconds (POSIX sh, /proc, and nvidia-smi if present)."""
    return (
        f"while :; do echo {BEGIN}; head -n 1 /proc/stat; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo;"
        f" if command -v nvidia-smi >/dev/null 2>&1; then echo {GPU};"
        f" nvidia-smi --query-gpu={GPU_QUERY} --format=csv,noheader,nounits 2>&1; fi;"
        f" echo {END}; sleep {interval_s:g}; done"
    )


@dataclass(frozen=True)
class GpuStat:
    index: int
    name: str
    util_percent: float | None  # None: the driver does not report it ("[N/A]", "[Not Supported]")
    memory_used_mb: float | None
    memory_total_mb: float | None


@dataclass(frozen=True)
class HostStats:
    """One host's latest figures; what the metrics screen shows beside its ranks."""

    host: str
    cpu_percent: float | None  # None: the first block of a connection (no earlier one to compare with)
    memory_used_mb: float | None
    memory_total_mb: float | None
    gpus: tuple[GpuStat, ...] = ()
    error: str = ""  # the last connection's failure, one line ("" while sampling)

    def gpu(self, index: int | None) -> list[GpuStat]:
        """The GPU a rank uses (by nvidia-smi index), or every GPU when its index is unknown or absent."""
        chosen = [g for g in self.gpus if g.index == index]
        return chosen or list(self.gpus)


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_nvidia_smi(text: str) -> list[GpuStat]:
    """The output of `nvidia-smi --query-gpu=GPU_QUERY --format=csv,noheader,nounits`; lines that are not
    such rows (an error such as "NVIDIA-SMI has failed ...") are skipped."""
    gpus = []
    for line in text.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        # A GPU name may hold a comma: the three numbers are always the last fields.
        name = ", ".join(fields[1:-3])
        used, total = _number(fields[-2]), _number(fields[-1])
        gpus.append(GpuStat(int(fields[0]), name, _number(fields[-3]), used, total))
    return gpus


def cpu_jiffies(line: str) -> tuple[int, int] | None:
    """(busy, total) jiffies from /proc/stat's "cpu ..." line; idle and iowait count as not busy."""
    words = line.split()
    if not words or words[0] != "cpu":
        return None
    try:
        values = [int(v) for v in words[1:]]
    except ValueError:
        return None
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return total - idle, total


def cpu_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


@dataclass(frozen=True)
class Block:
    """One sample block as printed by sample_script, parsed."""

    jiffies: tuple[int, int] | None
    memory_total_mb: float | None
    memory_available_mb: float | None
    gpus: tuple[GpuStat, ...]


def parse_block(lines: list[str]) -> Block:
    """The lines between BEGIN and END."""
    jiffies, memory, gpu_lines, in_gpu = None, {}, [], False
    for line in lines:
        if line == GPU:
            in_gpu = True
        elif in_gpu:
            gpu_lines.append(line)
        elif line.startswith("cpu "):
            jiffies = cpu_jiffies(line)
        elif line.startswith(("MemTotal:", "MemAvailable:")):
            key, _, value = line.partition(":")
            kilobytes = _number(value.replace("kB", ""))
            memory[key] = kilobytes / 1024 if kilobytes is not None else None
    gpus = tuple(parse_nvidia_smi("\n".join(gpu_lines)))
    return Block(jiffies, memory.get("MemTotal"), memory.get("MemAvailable"), gpus)


def host_stats(host: str, block: Block, previous: Block | None) -> HostStats:
    total, available = block.memory_total_mb, block.memory_available_mb
    used = total - available if total is not None and available is not None else None
    cpu = cpu_percent(previous.jiffies if previous else None, block.jiffies)
    return HostStats(host, cpu, used, total, block.gpus)


class HostStatsStream(CommandLoop):
    """Runs sample_script on one host in a thread; each parsed block goes to `on_stats` as HostStats."""

    def __init__(
        self,
        conn: HostConnection,
        on_stats: Callable[[HostStats], None],
        interval_s: float = 3.0,
        backoff: tuple[float, float] = (1.0, 30.0),
    ):
        super().__init__(conn)
        self.on_stats = on_stats
        self.interval_s = interval_s
        self.backoff = backoff

    @property
    def thread_name(self) -> str:
        return f"stats-{self.conn.name}"

    def _loop(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            sampled, why = self._sample_once()
            if self._stop.is_set():
                break
            if why:  # say why the figures stopped, keep the last ones' host name
                self.on_stats(HostStats(self.conn.name, None, None, None, error=why))
            delay = self.backoff[0] if sampled else min(delay * 2, self.backoff[1])
            self._stop.wait(delay)

    def _sample_once(self) -> tuple[bool, str]:
        """Run the loop until it ends: (did it deliver a block, why it ended)."""
        try:
            proc = self._open(["sh", "-c", sample_script(self.interval_s)])
        except OSError as err:
            return False, str(err)
        sampled, previous, lines, other = False, None, None, ""
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            if line == BEGIN:
                lines = []
            elif line == END and lines is not None:
                block = parse_block(lines)
                self.on_stats(host_stats(self.conn.name, block, previous))
                previous, lines, sampled = block, None, True
            elif lines is not None:
                lines.append(line)
            elif line.strip():
                other = line.strip()  # ssh's own message ("Permission denied", "Connection refused")
        code = proc.wait()
        return sampled, other or f"sampling ended (exit {code})"


class HostStatsFeed:
    """The latest HostStats of every sampled host, and the streams that keep them current."""

    def __init__(self, on_stats: Callable[[str], None] | None = None, interval_s: float = 3.0) -> None:
        self.latest: dict[str, HostStats] = {}
        self.streams: dict[str, HostStatsStream] = {}
        self.on_stats = on_stats  # called on a stream's thread with the host whose figures changed
        self.interval_s = interval_s

    def receive(self, stats: HostStats) -> None:
        self.latest[stats.host] = stats
        if self.on_stats:
            self.on_stats(stats.host)

    def follow(self, connections: list[HostConnection]) -> None:
        """Sample every host not sampled yet."""
        for conn in connections:
            if conn.name not in self.streams:
                self.streams[conn.name] = HostStatsStream(conn, self.receive, self.interval_s).start()

    def stop(self, timeout: float = 1) -> None:
        for stream in list(self.streams.values()):
            stream.stop(timeout=timeout)
