"""Wall time and peak memory of one command, and the peers' virtual environments.

Peak memory is the resident set of the whole process tree (SQLMesh forks
workers to load a project; a tool may start helpers), sampled from /proc every
100 ms, and never below the kernel's own peak for the largest single process
(the rusage of the waited-for child), which catches a spike between samples.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.1
_LIMITS = {"timeout": 3600.0, "quiet_wait": 30.0}
QUIET_CORES = 0.25


def set_limits(timeout: float, quiet_wait: float) -> None:
    """How long a measured command may run before it is killed, and how long to
    wait before it for the machine to be quiet."""
    _LIMITS.update(timeout=timeout, quiet_wait=quiet_wait)


def wait_until_quiet(limit: float) -> float:
    """Wait, at most `limit` seconds, for half a second in which other processes
    keep less than QUIET_CORES of the machine busy; return the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        before = busy_cpu_seconds()
        time.sleep(0.5)
        if busy_cpu_seconds() - before < QUIET_CORES * 0.5:
            break
    return time.monotonic() - start


@dataclass
class Result:
    """One measured command: what ran, how long, how much memory, what it said."""

    name: str
    seconds: float | None = None
    peak_mb: float | None = None
    returncode: int | None = None
    error: str | None = None
    stdout: str = ""
    stderr: str = ""
    detail: dict[str, object] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    rows: dict[str, object] = field(default_factory=dict)
    tries: list[float | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.seconds is not None

    @property
    def other_cpu(self) -> float:
        """CPU seconds other processes on the machine used while this ran."""
        other = self.detail.get("other_cpu_s")
        return other if isinstance(other, float) else 0.0

    @property
    def noisy(self) -> bool:
        """Others took more than a tenth of a core-equivalent of the wall time."""
        return self.seconds is not None and self.other_cpu > max(0.2, 0.1 * self.seconds)

    def to_json(self) -> dict[str, object]:
        return {
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "peak_mb": None if self.peak_mb is None else round(self.peak_mb, 1),
            "ok": self.ok,
            "error": self.error,
            "noisy": self.noisy,
            "tries": [None if t is None else round(t, 3) for t in self.tries],
            "statuses": self.statuses,
            "detail": self.detail,
        }


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident pages) for every process we can read."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[21]))
    return table


def tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants, in KiB."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _rss) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += table.get(pid, (0, 0))[1] * PAGE_KB
        stack.extend(children.get(pid, []))
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))
            self.stop.wait(SAMPLE_SECONDS)


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores) since boot.

    Busy time during a measurement minus the measured tree's own CPU time is
    what everything else on the machine took: a sign of a noisy measurement.
    """
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def peer_env() -> dict[str, str]:
    """The environment every measured command gets: no telemetry, no leaked venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["SQLMESH__DISABLE_ANONYMIZED_ANALYTICS"] = "1"
    env["NO_COLOR"] = "1"
    return env


def measure(name: str, command: list[str], cwd: Path) -> Result:
    """Run `command` in `cwd`; record wall seconds, peak tree RSS and its output."""
    result = Result(name=name)
    result.detail["waited_for_quiet_s"] = round(wait_until_quiet(_LIMITS["quiet_wait"]), 1)
    out_path, err_path = cwd / f".bench-{name}.out", cwd / f".bench-{name}.err"
    try:
        with out_path.open("wb") as out, err_path.open("wb") as err:
            busy_before, start = busy_cpu_seconds(), time.perf_counter()
            proc = subprocess.Popen(
                command, cwd=cwd, stdout=out, stderr=err, env=peer_env(), start_new_session=True
            )
            sampler = _Sampler(proc.pid)
            sampler.start()
            usage = _wait(proc, _LIMITS["timeout"])
            result.seconds = time.perf_counter() - start
            busy = busy_cpu_seconds() - busy_before
            sampler.stop.set()
            sampler.join()
    except (OSError, subprocess.TimeoutExpired) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    result.peak_mb = max(sampler.peak_kb, usage.ru_maxrss) / 1024
    result.detail["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    result.detail["other_cpu_s"] = round(max(0.0, busy - usage.ru_utime - usage.ru_stime), 2)
    result.returncode = proc.returncode
    result.stdout = out_path.read_text(errors="replace")
    result.stderr = err_path.read_text(errors="replace")
    if proc.returncode != 0:
        result.error = f"exit {proc.returncode}: {last_line(result.stderr or result.stdout)}"
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        result.detail["output_tail"] = tail
    return result


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> resource.struct_rusage:
    """Reap the child with wait4, so its own CPU time and peak RSS come back with it.

    On timeout the child's whole session is killed (a tool's helpers included).
    """
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _pid, status, rusage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if expired.is_set():
        raise subprocess.TimeoutExpired(proc.args, timeout)
    return rusage


def last_line(text: str, width: int = 160) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:width]


@dataclass
class Peer:
    """A peer tool installed in its own virtual environment under bench/.venvs."""

    name: str
    requirements: list[str]
    executable: str
    packages: list[str]

    def venv(self, root: Path) -> Path:
        return root / self.name

    def binary(self, root: Path) -> Path:
        return self.venv(root) / "bin" / self.executable


PEERS = {
    "dbt": Peer(
        "dbt", ["dbt-core<1.12", "dbt-duckdb"], "dbt", ["dbt-core", "dbt-duckdb", "duckdb"]
    ),
    "sqlmesh": Peer("sqlmesh", ["sqlmesh[duckdb]"], "sqlmesh", ["sqlmesh", "duckdb", "sqlglot"]),
}


def ensure_peer(peer: Peer, root: Path) -> str | None:
    """Create the peer's venv and install it once; return an error message or None."""
    venv, marker = peer.venv(root), peer.venv(root) / ".bench-installed"
    if marker.exists() and peer.binary(root).exists():
        return None
    print(f"installing {peer.name} into {venv} ({', '.join(peer.requirements)})", flush=True)
    python = venv / "bin" / "python"
    steps = [
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "--quiet", *peer.requirements],
    ]
    if not python.exists():
        steps.insert(0, [sys.executable, "-m", "venv", str(venv)])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"install failed: {last_line(done.stderr or done.stdout)}"
    marker.write_text(" ".join(peer.requirements) + "\n")
    return None


def peer_versions(peer: Peer, root: Path) -> dict[str, str]:
    """Installed versions of the peer's packages (its own engine and parser included)."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))"
    )
    python = str(peer.venv(root) / "bin" / "python")
    done = subprocess.run(
        [python, "-c", code, *peer.packages], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {"error": last_line(done.stderr)}
    versions: dict[str, str] = json.loads(done.stdout)
    return versions
