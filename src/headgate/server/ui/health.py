"""What the UI colours things by: each model's *data* status in an environment.

Not only whether its last task ran, but whether the data people read is good:

* ``failed``: a blocking check fails on the published table, or the latest build of
  the model's current version failed (the environment still shows the older data);
* ``warn``: published, and a warning check fails on it;
* ``stale``: published, but the project changed since (its fingerprint differs);
* ``running``: being built by a run in progress;
* ``ok``: published, current, and its checks pass;
* ``missing``: not built in this environment.

Read from the facade's status and the metadata store's latest check results, in a
few queries whatever the project's size; the status itself is
:func:`headgate.facade.reading.data_status`, as the API's lineage graph gives it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headgate.facade.reading import data_status

if TYPE_CHECKING:
    from headgate.facade import Project
    from headgate.facade.reading import ModelStatus
    from headgate.state.records import (
        CheckResultRecord,
        DeploymentRecord,
        EnvModel,
        RunRecord,
    )
    from headgate.state.store import StateStore

PROBLEM_STATUSES = ("fail", "error", "warn")
RECENT_PROBLEMS = 2000  # non-passing results looked at, newest first
FAILED_TASKS = ("failed", "upstream_failed")
UI_NAMES = {"not published": "missing"}  # the pages' name (and CSS class) of a status


@dataclass
class ModelHealth:
    status: ModelStatus
    data: str  # ok | warn | failed | stale | running | missing
    problems: list[CheckResultRecord] = field(default_factory=list)
    task_error: str | None = None

    @property
    def name(self) -> str:
        return self.status.name


@dataclass
class EnvironmentHealth:
    environment: str
    models: dict[str, ModelHealth]
    running: list[RunRecord]
    last_run: RunRecord | None
    deployments: list[DeploymentRecord] = field(default_factory=list)

    def count(self, data: str) -> int:
        return sum(1 for m in self.models.values() if m.data == data)

    @property
    def published(self) -> int:
        return sum(1 for m in self.models.values() if m.status.published_fingerprint)

    @property
    def failing_checks(self) -> list[CheckResultRecord]:
        return [p for m in self.models.values() for p in m.problems if p.status != "warn"]

    @property
    def warning_checks(self) -> list[CheckResultRecord]:
        return [p for m in self.models.values() for p in m.problems if p.status == "warn"]

    @property
    def last_publish(self) -> DeploymentRecord | None:
        return self.deployments[0] if self.deployments else None


def environment_health(
    project: Project, environment: str, *, deployments: int = 5
) -> EnvironmentHealth:
    """Every model's data status in ``environment``, the runs in progress, recent deploys.

    Kept while the metadata store's files and the project are unchanged (a SQLite store:
    any write changes its files), so pages asked again and again cost nothing. A store on
    PostgreSQL has no such stamp to look at: its health is kept ``HEALTH_SECONDS``, so a
    page may show it a few seconds old. That is fine for a health at a glance: a run's
    own page follows it live, and the next view after those seconds reads it again.
    """
    key, fresh_for = _cache_key(project, environment, deployments)
    now = time.monotonic()
    with _guard:
        found = _kept.get(key)
    if found is not None and now < found[1]:
        return found[0]
    health = _read_health(project, environment, deployments)
    with _guard:
        if key not in _kept and len(_kept) >= KEPT:
            _kept.pop(next(iter(_kept)))
        _kept[key] = (health, now + fresh_for)
    return health


def _read_health(project: Project, environment: str, deployments: int) -> EnvironmentHealth:
    store = project.state
    pointers = store.env_models(environment)
    rows = store.published_rows(environment)  # not the whole registry: only what is shown
    published = {p.physical_table: name for name, p in pointers.items()}
    problems = current_problems(store, published)
    runs = store.list_runs(limit=20, environment=environment)
    running = [r for r in runs if r.status == "running"]
    building: set[str] = set()
    for run in running:
        detail = store.get_run(run.id, specs=False)
        building |= {t.name for t in (detail.tasks if detail else []) if t.status == "running"}
    finished = next((r for r in runs if r.status != "running"), None)
    failed_builds: dict[str, str] = {}
    if finished is not None and any(finished.counts.get(s) for s in FAILED_TASKS):
        detail = finished_run(store, finished.id)
        for task in detail.tasks if detail else []:
            if task.status in FAILED_TASKS:
                failed_builds[task.name] = task.error or task.status.replace("_", " ")
    models: dict[str, ModelHealth] = {}
    for model in _statuses(project, pointers, rows):
        found = problems.get(model.name, [])
        error = failed_builds.get(model.name) if model.state != "up to date" else None
        data = data_status(
            model.state,
            [p.status for p in found],
            build_error=error,
            running=model.name in building,
        )
        models[model.name] = ModelHealth(model, UI_NAMES.get(data, data), found, error)
    history = store.deployments(environment=environment, limit=deployments) if deployments else []
    return EnvironmentHealth(environment, models, running, runs[0] if runs else None, history)


def _statuses(
    project: Project, pointers: dict[str, EnvModel], rows: dict[str, int | None]
) -> list[ModelStatus]:
    """Each model's state as :meth:`headgate.Project.status` gives it (up to date, changed,
    not published), without reading its last run's every task."""
    from headgate.facade.reading import ModelStatus, model_state

    found = []
    for name in project.outline.order:
        kind, materialized = project.outline.kinds[name]
        pointer = pointers.get(name)
        current = project.fingerprints[name]
        state = model_state(pointer.fingerprint if pointer else None, current)
        found.append(
            ModelStatus(
                name=name,
                kind=kind,
                materialized=materialized,
                state=state,
                fingerprint=current,
                published_fingerprint=pointer.fingerprint if pointer else None,
                rows=rows.get(pointer.physical_table) if pointer else None,
                published_at=pointer.published_at if pointer else None,
            )
        )
    return found


_kept: dict[tuple[Any, ...], tuple[EnvironmentHealth, float]] = {}  # key -> (health, until)
_finished: OrderedDict[tuple[str, str | None, int], RunRecord] = OrderedDict()
_guard = threading.Lock()
KEPT = 16
KEPT_RUNS = 64
HEALTH_SECONDS = 3.0  # a store on PostgreSQL: an environment's health read at most this often


def _cache_key(
    project: Project, environment: str, deployments: int
) -> tuple[tuple[Any, ...], float]:
    """The key the health is kept under, and for how many seconds it may be used."""
    from headgate.facade.snapshots import _sqlite_path, _store_stamp

    path = _sqlite_path(project.root, project._state_url)
    if path is None:
        store = project.state
        where = ("store", store.url_for_display, store.schema)
        return (environment, deployments, id(project.fingerprints), where), HEALTH_SECONDS
    return (environment, deployments, id(project.fingerprints), _store_stamp(path)), math.inf


def finished_run(store: StateStore, run_id: int) -> RunRecord | None:
    """A run with its tasks; a finished run is read once (it no longer changes).

    Kept by store and id: two projects served by one process (tests do) number their
    runs alike."""
    key = (store.url_for_display, store.schema, run_id)
    with _guard:
        if key in _finished:
            _finished.move_to_end(key)
            return _finished[key]
    run = store.get_run(run_id, specs=False)
    if run is not None and run.status != "running":
        with _guard:
            _finished[key] = run
            while len(_finished) > KEPT_RUNS:
                _finished.popitem(last=False)
    return run


def current_problems(
    store: StateStore, published: dict[str, str]
) -> dict[str, list[CheckResultRecord]]:
    """Model -> the checks failing (or warning, or in error) on its published table now.

    The newest non-passing results are read in one query per status; for the models among
    them, the latest result of each check on their published tables is read in one more
    (a later pass of the same check clears an earlier failure).
    """
    tables: dict[str, str] = {}  # published table -> the model its problems are recorded for
    for status in PROBLEM_STATUSES:
        for record in store.check_results(status=status, limit=RECENT_PROBLEMS):
            if record.physical_table is not None and record.physical_table in published:
                tables[record.physical_table] = record.model
    found: dict[str, list[CheckResultRecord]] = {}
    for record in store.latest_results_on(tables) if tables else []:
        if record.status in PROBLEM_STATUSES:
            found.setdefault(record.model, []).append(record)
    return found
