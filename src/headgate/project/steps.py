"""External steps: work outside headgate that a pipeline runs in DAG order.

One file per step under ``steps/``; the step's name is ``steps.<file name>``. A step runs
a shell command, a Python callable or a dbt command, after its ``upstream`` and before
its ``downstream`` (models or source tables; other steps too)::

    # steps/fetch_orders.yml: drops today's export where the shop source reads it
    shell: python scripts/fetch_orders.py --out data/orders_today.csv
    downstream: [shop.orders]
    timeout: 300
    retries: 2

    # steps/notify.yml: a Python callable, after the marts are built
    python: scripts/notify.py:send      # a file (or module) and a function in it
    upstream: [marts.revenue]

    # steps/dbt_marts.yml: an existing dbt project, inside the pipeline
    dbt: build --select marts           # dbt's own arguments
    project_dir: analytics              # dbt_project.yml (and profiles.yml); it runs there
    upstream: [staging.orders]

A step is a node of the DAG like a model: ``--select steps.fetch_orders`` runs it alone,
``+steps.notify`` with what it waits for, ``steps.fetch_orders+`` with what waits for it,
and ``tags: [nightly]`` in its file makes ``tag:nightly`` select it. A step runs on every
run that covers it: a run of everything, one that selects it, or one whose selection
includes a node downstream of it. A failing step fails its downstream as
``upstream_failed``; a source downstream of a step reads the files the step left.
Exit code 75 (``EX_TEMPFAIL``; list others in ``transient_exit_codes``) is a transient
failure, tried again after a pause; any other failure is terminal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from headgate.errors import Location, ProjectError
from headgate.project.dag import Dag
from headgate.project.strict import StrictModel

STEPS_FOLDER = "steps"
PREFIX = "steps."
KINDS = ("shell", "python", "dbt")


class StepConfig(StrictModel):
    """One file under ``steps/``."""

    description: str | None = None
    tags: list[str] = Field(default_factory=list, description="selected with --select tag:x")
    shell: str | None = Field(default=None, description="a command run by /bin/sh")
    python: str | None = Field(
        default=None, description="path/to/file.py:function or package.module:function"
    )
    dbt: str | None = Field(default=None, description="dbt's arguments, e.g. 'build -s marts'")
    project_dir: str = Field(default=".", description="the dbt project's folder")
    profiles_dir: str | None = Field(default=None, description="default: the project_dir")
    upstream: list[str] = Field(default_factory=list, description="what must finish first")
    downstream: list[str] = Field(default_factory=list, description="what waits for this step")
    timeout: float | None = Field(default=None, gt=0, description="seconds before it is stopped")
    retries: int = Field(default=0, ge=0, le=20, description="tries again after a transient error")
    retry_backoff: float = Field(default=1.0, ge=0)
    transient_exit_codes: list[int] = Field(default_factory=lambda: [75])
    env: dict[str, str] = Field(
        default_factory=dict, description="added to its environment; ${secret:NAME} resolved"
    )
    cwd: str | None = Field(
        default=None,
        description="where it runs, relative to the project (default: the dbt project_dir "
        "for dbt, else the project's folder)",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> StepConfig:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                "a step runs one thing: give exactly one of shell, python or dbt "
                f"({'both ' + ' and '.join(given) if given else 'none'} given)"
            )
        if self.python is not None and ":" not in self.python:
            raise ValueError(
                f"python: '{self.python}' names no function: write file.py:function "
                "or package.module:function"
            )
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    @property
    def folder(self) -> str:
        """Where it runs, relative to the project."""
        if self.cwd is not None:
            return self.cwd
        return self.project_dir if self.dbt is not None else "."

    @property
    def what(self) -> str:
        """What it runs, as a plan says it: ``runs dbt run --select marts``."""
        if self.shell is not None:
            return f"runs {_short(self.shell)}"
        if self.python is not None:
            return f"calls {self.python}"
        return f"runs dbt {_short(self.dbt or '')}"


def _short(command: str, width: int = 60) -> str:
    line = " ".join(command.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@dataclass
class Step:
    """A step as the DAG knows it."""

    name: str  # steps.<file stem>
    config: StepConfig
    path: Path  # relative to the project
    upstream: list[str]
    downstream: list[str]

    @property
    def fingerprint(self) -> str:
        data = json.dumps(self.spec(), sort_keys=True)
        return hashlib.blake2b(data.encode(), digest_size=8).hexdigest()

    def spec(self) -> dict[str, Any]:
        """What any process needs to run the step (kept in the run's task spec).

        Its tags choose runs, they change nothing in it: neither spec nor fingerprint."""
        config = self.config.model_dump(mode="json", exclude={"tags"})
        return {"name": self.name, "path": str(self.path), **config}


def load_steps(root: Path, known: set[str], errors: list[ProjectError]) -> dict[str, Step]:
    """Every step under ``steps/``; names in upstream or downstream must be known nodes."""
    from headgate.project.yamlfile import load_yaml_file

    folder = root / STEPS_FOLDER
    paths = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    steps: dict[str, Step] = {}
    for path in paths:
        name = PREFIX + path.stem.lower()
        try:
            doc = load_yaml_file(path)
            config: StepConfig = doc.validate(StepConfig, "step")
        except ProjectError as exc:
            errors.append(exc)
            continue
        steps[name] = Step(name, config, path.relative_to(root), [], [])
    every = known | set(steps)
    for step in steps.values():
        doc = load_yaml_file(root / step.path)
        for key in ("upstream", "downstream"):
            names = [n.lower() for n in getattr(step.config, key)]
            for i, other in enumerate(names):
                if other not in every or other == step.name:
                    errors.append(_unknown(other, step, doc.location((key, i)), every))
            getattr(step, key).extend(n for n in names if n in every and n != step.name)
        if step.name in known:
            errors.append(
                ProjectError(
                    f"step {step.name} has the name of a model",
                    Location(root / step.path),
                    hint="rename the step's file or the model",
                )
            )
    return steps


def _unknown(name: str, step: Step, where: Location, every: set[str]) -> ProjectError:
    import difflib

    if name == step.name:
        return ProjectError(f"step {step.name} cannot wait for itself", where)
    close = difflib.get_close_matches(name, sorted(every), n=3, cutoff=0.6)
    return ProjectError(
        f"'{name}' is neither a model, a source table nor a step",
        where,
        hint=f"did you mean {', '.join(close)}?" if close else "name a model, source or step",
    )


def graph_with_steps(
    upstream: dict[str, list[str]], steps: dict[str, Step]
) -> dict[str, list[str]]:
    """The DAG's edges with each step's: its upstream before it, its downstream after it."""
    combined = {name: list(parents) for name, parents in upstream.items()}
    for step in steps.values():
        combined[step.name] = list(step.upstream)
    for step in steps.values():
        for child in step.downstream:
            combined[child] = sorted({*combined[child], step.name})
    return combined


def dag_with_steps(dag: Dag, steps: dict[str, Step]) -> Dag:
    """The project's DAG with its steps as nodes (the DAG itself when it has none)."""
    if not steps:
        return dag
    key = (id(dag), tuple((s.name, *s.upstream, "|", *s.downstream) for s in steps.values()))
    cached = _COMBINED.get(key)
    if cached is not None and cached[0] is dag:
        return cached[1]
    combined = Dag(graph_with_steps(dag.upstream, steps))
    _COMBINED.clear()  # one project at a time: the latest load's
    _COMBINED[key] = (dag, combined)
    return combined


_COMBINED: dict[tuple[Any, ...], tuple[Dag, Dag]] = {}


def steps_of(
    root: Path, upstream: dict[str, list[str]], errors: list[ProjectError]
) -> dict[str, Step]:
    """The project's steps, checked: known names, and no cycle through models and steps."""
    from headgate.project.dag import CycleError, topological_order

    steps = load_steps(root, set(upstream), errors)
    if not steps or errors:
        return steps
    try:
        topological_order(graph_with_steps(upstream, steps))
    except CycleError as exc:
        first = next((steps[n] for n in exc.cycle if n in steps), None)
        errors.append(
            ProjectError(
                "steps and models wait for each other in a cycle: " + " -> ".join(exc.cycle),
                Location(root / first.path) if first else None,
                hint="a step cannot be both upstream and downstream of the same model",
            )
        )
    return steps
