"""Carrying out an external step: a shell command, a Python callable or a dbt command.

A step runs as a child process in its own process group, from its task spec alone (so an
agent can run it as well as the process that planned it). Its output (stdout and stderr,
interleaved) goes line by line to ``.headgate/steps/run-<id>/<step>.log`` and the last
lines are kept with the task's record, shown by ``headgate runs <id> --json`` and the
run's page. It is stopped when it runs past its ``timeout``, or when the run is
cancelled. An exit code listed in ``transient_exit_codes`` (75 by default) is tried
again after a pause, up to ``retries`` times; any other failure is terminal.

The step's environment carries ``HEADGATE_RUN_ID``, ``HEADGATE_ENVIRONMENT``,
``HEADGATE_STEP`` and ``HEADGATE_END`` (the run's end, an ISO timestamp).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.errors import HeadgateError
from headgate.project.steps import StepConfig
from headgate.runtime.results import BUILT, FAILED, TaskResult
from headgate.runtime.specs import node_to_spec
from headgate.state.records import TaskRecord

if TYPE_CHECKING:
    from headgate.plan.planner import PlannedNode
    from headgate.runtime.tasks import BuildContext

KEPT_LINES = 60  # the output's last lines kept with the task's record
KEPT_CHARS = 8000
LOG_FOLDER = ".headgate/steps"

# Runs a Python step's callable in the child: ``file.py:function`` or ``module:function``.
# It is given a dict of the run (run_id, environment, step, end) when it takes a parameter.
# A headgate error marked transient exits 75, so the step is tried again.
_CALL = r"""
import inspect, os, runpy, sys, traceback, importlib
target, name = sys.argv[1].rsplit(":", 1)
try:
    if target.endswith(".py") or os.sep in target:
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        function = runpy.run_path(target)[name]
    else:
        sys.path.insert(0, os.getcwd())
        function = getattr(importlib.import_module(target), name)
    context = {k[9:].lower(): v for k, v in os.environ.items() if k.startswith("HEADGATE_")}
    takes = len(inspect.signature(function).parameters)
    result = function(context) if takes else function()
    if result is not None:
        print(result)
except SystemExit:
    raise
except BaseException as exc:
    traceback.print_exc()
    sys.exit(75 if getattr(exc, "transient", False) else 1)
"""


@dataclass
class Attempt:
    exit_code: int | None  # None: stopped (timeout or cancel)
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=KEPT_LINES))
    timed_out: bool = False
    cancelled: bool = False
    secrets: tuple[str, ...] = ()  # values its environment resolved: masked in its output


class RunningSteps:
    """The child processes of running steps, so a cancel or a timeout can stop them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.cancelled: set[str] = set()

    def add(self, key: str, process: subprocess.Popen[bytes]) -> None:
        with self._guard:
            self._processes[key] = process

    def remove(self, key: str) -> None:
        with self._guard:
            self._processes.pop(key, None)

    def stop_run(self, run_id: int) -> int:
        """Stop every step of run ``run_id`` that is running (a cancelled run); how many."""
        with self._guard:
            keys = [k for k in self._processes if k.startswith(f"{run_id}:")]
        for key in keys:
            self.stop(key)
        return len(keys)

    def stop(self, key: str) -> None:
        """Stop a step's process group: SIGTERM, then SIGKILL after 5 s."""
        with self._guard:
            self.cancelled.add(key)
            process = self._processes.get(key)
        if process is not None:
            _stop(process)


RUNNING = RunningSteps()


def step_key(run_id: int, name: str) -> str:
    return f"{run_id}:{name}"


def run_step(ctx: BuildContext, node: PlannedNode, *, attempt: int = 1) -> TaskResult:
    """Run the step until it succeeds, fails terminally or has used its retries."""
    assert node.step is not None, node.name
    spec = dict(node.step)
    config = StepConfig.model_validate({k: v for k, v in spec.items() if k not in ("name", "path")})
    started = time.perf_counter()
    ctx.attempts[node.name] = attempt
    ctx.started.setdefault(node.name, datetime.now(UTC))
    root = ctx.project.root
    log_path = root / LOG_FOLDER / f"run-{ctx.run_id}" / f"{node.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = _command(config, root)
    env, secrets = _environment(ctx, node, config)
    tries = config.retries + 1
    outcome = Attempt(exit_code=None)
    number = 1
    for number in range(1, tries + 1):
        outcome = _attempt(
            ctx, node, command, env, root / config.folder, config, log_path, number, secrets
        )
        transient = outcome.exit_code in config.transient_exit_codes
        if outcome.exit_code == 0 or outcome.cancelled or not transient or number == tries:
            break
        time.sleep(config.retry_backoff * 2 ** (number - 1))
    detail: dict[str, Any] = {
        "command": shlex.join(command) if config.kind != "shell" else config.shell,
        "exit_code": outcome.exit_code,
        "attempts": number,
        "log": str(log_path.relative_to(root)),
        "output": _masked("\n".join(outcome.lines), secrets)[-KEPT_CHARS:],
    }
    error = None if outcome.exit_code == 0 else _failure(node, config, outcome, number)
    error = _masked(error, secrets) if error else None
    status = BUILT if error is None else FAILED
    return _recorded(ctx, node, status, time.perf_counter() - started, error, detail)


def _command(config: StepConfig, root: Path) -> list[str]:
    if config.shell is not None:
        return ["/bin/sh", "-c", config.shell]
    if config.python is not None:
        return [sys.executable, "-c", _CALL, config.python]
    assert config.dbt is not None
    project_dir = str(root / config.project_dir)
    profiles_dir = str(root / (config.profiles_dir or config.project_dir))
    return [
        _dbt(),
        *shlex.split(config.dbt),
        "--project-dir",
        project_dir,
        "--profiles-dir",
        profiles_dir,
    ]


def _dbt() -> str:
    """The ``dbt`` command: HEADGATE_DBT, else beside headgate's Python, else on PATH."""
    chosen = os.environ.get("HEADGATE_DBT")
    beside = Path(sys.executable).parent / "dbt"
    found = chosen or (str(beside) if beside.is_file() else shutil.which("dbt"))
    if found is None:
        raise HeadgateError(
            "dbt is not installed where headgate runs",
            hint="pip install 'dbt-core>=1.10,<1.12' and your warehouse's adapter (dbt-duckdb) "
            "in a venv, and set HEADGATE_DBT to its bin/dbt",
        )
    return found


def _environment(
    ctx: BuildContext, node: PlannedNode, config: StepConfig
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The step's environment (its ``env:`` with ``${secret:NAME}`` resolved), and the
    secret values resolved, to mask wherever its output is shown."""
    from headgate.sources.secrets import Secrets

    secrets = Secrets(ctx.project.root)
    declared = {name: secrets.resolve(value) for name, value in config.env.items()}
    return {
        **os.environ,
        **declared,
        "HEADGATE_RUN_ID": str(ctx.run_id),
        "HEADGATE_ENVIRONMENT": ctx.plan.environment,
        "HEADGATE_STEP": node.name,
        "HEADGATE_END": ctx.plan.end.isoformat(),
        "PYTHONUNBUFFERED": "1",
    }, secrets.used


def _attempt(
    ctx: BuildContext,
    node: PlannedNode,
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    config: StepConfig,
    log_path: Path,
    number: int,
    secrets: tuple[str, ...],
) -> Attempt:
    key = step_key(ctx.run_id, node.name)
    outcome = Attempt(exit_code=None, secrets=secrets)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"--- attempt {number} at {datetime.now(UTC).isoformat()}\n")
        log.flush()
        try:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped with its children
            )
        except OSError as exc:
            outcome.exit_code = 127
            outcome.lines.append(f"cannot start {command[0]}: {exc}")
            log.write(outcome.lines[-1] + "\n")
            return outcome
        RUNNING.add(key, process)
        reader = threading.Thread(target=_read, args=(process, log, outcome, secrets), daemon=True)
        reader.start()
        try:
            outcome.exit_code = process.wait(timeout=config.timeout)
        except subprocess.TimeoutExpired:
            outcome.timed_out = True
            _stop(process)
        finally:
            RUNNING.remove(key)
        reader.join(timeout=10)
        if key in RUNNING.cancelled:
            outcome.cancelled = True
        if outcome.timed_out or outcome.cancelled:
            outcome.exit_code = None
    return outcome


def _read(
    process: subprocess.Popen[bytes], log: Any, outcome: Attempt, secrets: tuple[str, ...]
) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        line = _masked(raw.decode("utf-8", errors="replace").rstrip("\n"), secrets)
        outcome.lines.append(line)
        log.write(line + "\n")
        log.flush()


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait()


def _failure(node: PlannedNode, config: StepConfig, outcome: Attempt, tries: int) -> str:
    if outcome.timed_out:
        why = f"ran longer than its timeout ({config.timeout:g} s) and was stopped"
    elif outcome.cancelled:
        why = "was stopped: the run was cancelled"
    else:
        why = f"failed with exit code {outcome.exit_code}"
        if outcome.exit_code in config.transient_exit_codes and tries > 1:
            why += f" after {tries} attempts (a transient failure each time)"
    last = [line for line in outcome.lines if line.strip()][-5:]
    shown = "\n    ".join(last)
    return f"step {node.name} {why}" + (f"; its last output:\n    {shown}" if shown else "")


def _masked(text: str, secrets: tuple[str, ...] = ()) -> str:
    from headgate.sources.secrets import SEEN_SECRETS, mask

    return mask(text, [*secrets, *(SEEN_SECRETS.get() or ())])


def _recorded(
    ctx: BuildContext,
    node: PlannedNode,
    status: str,
    seconds: float,
    error: str | None,
    detail: dict[str, Any],
) -> TaskResult:
    error = _masked(error) if error else None
    # written now, not batched: a step's effects are outside the warehouse, and a run
    # resumed after a crash must know it finished, so it is not carried out twice
    ctx.recorder.store.record_tasks(
        [
            TaskRecord(
                run_id=ctx.run_id,
                name=node.name,
                kind="step",
                status=status,
                fingerprint=node.fingerprint,
                physical_table=None,
                seconds=seconds,
                error=error,
                detail=detail,
                spec=node_to_spec(node),
                attempts=ctx.attempts.get(node.name, 1),
                started_at=ctx.started.get(node.name),
                ended_at=datetime.now(UTC),
            )
        ]
    )
    return TaskResult(
        name=node.name,
        kind="step",
        status=status,
        fingerprint=node.fingerprint,
        physical_table="",
        action=node.action,
        seconds=seconds,
        error=error,
        detail=detail,
    )


def refresh_fed_source(ctx: BuildContext, node: PlannedNode) -> None:
    """A file source downstream of a step reads the files there are now: its files are
    listed again and its version named by them (what depends on it follows)."""
    import dataclasses

    from headgate.plan.versions import derived_name
    from headgate.project.loader import _matching_files

    source = ctx.project.sources.get(node.name)
    if source is None or source.external or not node.after or node.growth is not None:
        return
    files = _matching_files(ctx.project.root, source.config.path, {})
    if files != source.files:
        ctx.project.sources[node.name] = dataclasses.replace(source, files=files)
    name = derived_name(node.base_table, [digest for _, _, digest in files])
    if name != node.physical_table:
        node.physical_table = name
        node.exists = ctx.engine.session().table_exists(name)
        node.action = "refresh" if node.exists else "build"
