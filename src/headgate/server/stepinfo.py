"""What the hub says about external steps: their config and their recent runs.

The step page, the lineage (a step's node coloured by its last run) and the steps API
read through here. A step's runs are its task records in the environment's recent runs;
the output shown is the one kept with the task, masked when it was recorded.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from headgate.errors import HeadgateError
from headgate.project.steps import PREFIX, Step
from headgate.runtime.steps import LOG_FOLDER

if TYPE_CHECKING:
    from headgate.facade import Project
    from headgate.state.records import TaskRecord

# a step task's status -> the lineage's data status (server/ui/drawing.py STATUS_MARKS)
LINEAGE_STATUS = {
    "built": "ok",
    "failed": "failed",
    "upstream_failed": "failed",
    "running": "running",
}
SHOWN_RUNS = 20
OUTPUT_LIMIT = 16 * 1024 * 1024  # bytes of a step's output the hub answers with, at most
KNOWN_LISTED = 30  # steps named in the refusal of an unknown one


@dataclass
class StepRun:
    """One run of a step, as its task record tells it."""

    run_id: int
    status: str
    seconds: float | None
    attempts: int | None
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    error: str | None
    output: str  # its last lines, masked as recorded
    log: str | None  # the whole output's file, relative to the project on the hub

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "seconds": self.seconds,
            "attempts": self.attempts,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "exit_code": self.exit_code,
            "error": self.error,
            "output": self.output,
            "log": self.log,
        }


@dataclass
class StepInfo:
    """A step's config and its latest runs (newest first)."""

    step: Step
    runs: list[StepRun] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def short(self) -> str:
        return short_name(self.step.name)

    @property
    def kind(self) -> str:
        return self.step.config.kind

    @property
    def command(self) -> str:
        """What it runs: the shell command, the callable, or dbt's arguments."""
        config = self.step.config
        if config.shell is not None:
            return config.shell
        if config.python is not None:
            return config.python
        return f"dbt {config.dbt}"

    @property
    def last(self) -> StepRun | None:
        return self.runs[0] if self.runs else None

    def to_json(self, *, runs: bool = True) -> dict[str, Any]:
        config = self.step.config
        body: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "command": self.command,
            "description": config.description,
            "tags": list(config.tags),
            "file": str(self.step.path),
            "folder": config.folder,
            "timeout": config.timeout,
            "retries": config.retries,
            "transient_exit_codes": list(config.transient_exit_codes),
            "upstream": list(self.step.upstream),
            "downstream": list(self.step.downstream),
            "last_run": self.last.to_json() if self.last else None,
        }
        if config.dbt is not None:
            body["project_dir"] = config.project_dir
        if runs:
            body["runs"] = [run.to_json() for run in self.runs]
        return body


def short_name(name: str) -> str:
    """``steps.load_crm`` -> ``load_crm`` (what a step's page address holds)."""
    return name[len(PREFIX) :] if name.startswith(PREFIX) else name


def step_url(name: str, environment: str | None = None) -> str:
    suffix = f"?env={quote(environment)}" if environment else ""
    return f"/steps/{quote(short_name(name))}{suffix}"


def find_step(project: Project, name: str) -> Step:
    """The step named ``name`` (``load_crm`` or ``steps.load_crm``), else a clear refusal."""
    steps = project.loaded.steps
    lowered = name.strip().lower()
    full = lowered if lowered.startswith(PREFIX) else PREFIX + lowered
    if full in steps:
        return steps[full]
    if not steps:
        raise HeadgateError(
            f"no step named '{name}': this project has no steps",
            hint="a step is a file steps/<name>.yml running a shell command, "
            "a Python callable or dbt",
        )
    close = difflib.get_close_matches(full, list(steps), n=3)
    known = sorted(steps)
    listed = ", ".join(known[:KNOWN_LISTED]) + (", …" if len(known) > KNOWN_LISTED else "")
    guess = f"did you mean {', '.join(close)}? " if close else ""
    raise HeadgateError(f"no step named '{name}'", hint=f"{guess}the project's steps: {listed}")


def step_runs(project: Project, names: list[str], environment: str) -> dict[str, list[StepRun]]:
    """Each step's recent runs in ``environment``, newest first."""
    found: dict[str, list[StepRun]] = {name: [] for name in names}
    for task in project.state.recent_tasks(names, environment):
        found.setdefault(task.name, []).append(_run_of(task))
    return found


def step_info(project: Project, step: Step, environment: str) -> StepInfo:
    runs = step_runs(project, [step.name], environment)[step.name]
    return StepInfo(step, runs[:SHOWN_RUNS])


def every_step(project: Project, environment: str) -> list[StepInfo]:
    """Every step of the project with its latest run."""
    steps = project.loaded.steps
    runs = step_runs(project, sorted(steps), environment)
    return [StepInfo(steps[name], runs[name][:1]) for name in sorted(steps)]


def lineage_statuses(project: Project, environment: str) -> dict[str, str]:
    """Each step's lineage status: its last run's (``missing`` when it never ran)."""
    statuses: dict[str, str] = {}
    for info in every_step(project, environment):
        last = info.last
        statuses[info.name] = LINEAGE_STATUS.get(last.status, "missing") if last else "missing"
    return statuses


def step_nodes(project: Project, environment: str, chosen: set[str] | None) -> list[dict[str, Any]]:
    """The lineage API's nodes for the steps (those ``chosen``, when a selection narrows)."""
    nodes = []
    for info in every_step(project, environment):
        if chosen is not None and info.name not in chosen:
            continue
        last = info.last
        nodes.append(
            {
                "id": info.name,
                "kind": "step",
                "step_kind": info.kind,
                "status": last.status if last else None,
                "last_run": last.run_id if last else None,
            }
        )
    return nodes


def output_file(project: Project, step: Step, run_id: int) -> Path:
    """The file holding the step's whole output in run ``run_id``, here on the hub.

    Named from the run and the step, never from a path a record carries; masked as it
    was written. A step an agent carried out left its file on the agent's machine.
    """
    path = project.root / LOG_FOLDER / f"run-{run_id}" / f"{step.name}.log"
    if not path.is_file():
        raise HeadgateError(
            f"no output of {step.name} in run {run_id} on the hub",
            hint="it did not run in that run, or ran on an agent (its last lines are "
            "kept with the run's task)",
        )
    return path


def output_text(path: Path, limit: int = OUTPUT_LIMIT) -> str:
    """The output file's text; of a longer one, its last ``limit`` bytes after a note."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(size - limit, 0))
        data = handle.read()
    text = data.decode("utf-8", errors="replace")
    if size <= limit:
        return text
    return f"… its first {size - limit:,} bytes left out; the last {limit:,} follow\n{text}"


def _run_of(task: TaskRecord) -> StepRun:
    detail = task.detail or {}
    exit_code = detail.get("exit_code")
    return StepRun(
        run_id=task.run_id,
        status=task.status,
        seconds=task.seconds,
        attempts=task.attempts,
        started_at=task.started_at,
        ended_at=task.ended_at,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        error=task.error,
        output=str(detail.get("output") or ""),
        log=str(detail["log"]) if detail.get("log") else None,
    )
