"""Reading: queries against an environment, run history, and each model's state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from headgate.errors import EngineError, HeadgateError
from headgate.facade.base import ProjectBase
from headgate.facade.quickread import QueryRows, select_directly
from headgate.plan.naming import PRODUCTION, view_name

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.state.records import EnvModel, RunRecord
    from headgate.state.store import StateStore


@dataclass
class ModelStatus:
    name: str
    kind: str
    materialized: str
    state: str  # "up to date" | "changed" | "not published"
    fingerprint: str
    published_fingerprint: str | None
    rows: int | None
    published_at: datetime | None


def model_state(published_fingerprint: str | None, fingerprint: str) -> str:
    """What an environment holds of a model: ``up to date``, ``changed`` or ``not published``."""
    if published_fingerprint is None:
        return "not published"
    return "up to date" if published_fingerprint == fingerprint else "changed"


DATA_STATUSES = ("running", "failed", "not published", "stale", "warn", "ok")


def data_status(
    state: str,
    checks: Iterable[str] = (),
    *,
    build_error: str | None = None,
    running: bool = False,
) -> str:
    """The status of the data people read of one model in an environment.

    ``state`` is :func:`model_state`'s; ``checks`` the statuses (``pass``, ``warn``,
    ``fail``, ``error``) of the latest results of the model's checks on its published
    table; ``build_error`` the error of the latest build of its current version, if it
    failed; ``running`` whether a run in progress is building it. The first that holds:
    ``running``; ``failed`` (a check fails or errors, or the build failed: readers still
    see older data); ``not published``; ``stale`` (the project changed since it was
    published); ``warn`` (a warning check fails); ``ok``.

    >>> data_status("up to date", ["pass", "warn"])
    'warn'
    >>> data_status("changed", ["fail"])
    'failed'
    >>> data_status("not published")
    'not published'
    """
    found = set(checks)
    if running:
        return "running"
    if build_error is not None or found & {"fail", "error"}:
        return "failed"
    if state == "not published":
        return "not published"
    if state == "changed":
        return "stale"
    if "warn" in found:
        return "warn"
    return "ok"


@dataclass
class EnvironmentStatus:
    environment: str
    models: list[ModelStatus]
    last_run: RunRecord | None
    counts: dict[str, int] = field(default_factory=dict)


class Reading(ProjectBase):
    def query(
        self, sql: str, environment: str | None = None, *, limit: int | None = None
    ) -> pa.Table:
        """Run a read-only query against an environment's views (models read by their names)."""
        from headgate.runtime.query import environment_query, unknown_table

        environment = self._environment(environment)
        published = self._published(environment)
        with self._engine(read_only=True) as engine:
            prefix = engine.schema_prefix
            rewritten = environment_query(
                sql,
                {name: view_name(name, environment, prefix) for name in published},
                limit=limit,
                dialect=engine.capabilities.dialect,
                columns=engine.session().columns_of,
            )
            try:
                return engine.session().arrow(rewritten)
            except EngineError as exc:
                raise unknown_table(str(exc), sql, published, environment) or exc from None

    def query_rows(
        self, sql: str, environment: str | None = None, *, limit: int | None = None
    ) -> QueryRows:
        """:meth:`query`'s rows as Python values, as the CLI prints them.

        A SELECT is read straight from the warehouse file, without Arrow or the engine
        layer (and in production, whose views need no rewriting, without the SQL parser);
        anything else, or a warehouse another process holds, goes through :meth:`query`.
        """
        environment = self._environment(environment)
        published = self._published(environment)
        if self._held is not None:  # the warehouse is open here: read it through its sessions
            data = self.query(sql, environment, limit=limit)
            return QueryRows(data.column_names, [tuple(r.values()) for r in data.to_pylist()])
        self._settle_publishes()
        reading, rows = sql, limit
        if environment != PRODUCTION:  # production's views carry the models' own names
            from headgate.runtime.query import environment_query

            views = {name: view_name(name, environment) for name in published}
            reading, rows = environment_query(sql, views, limit=limit), None
        try:
            quick = select_directly(self.outline.engine, self.root, reading, rows)
        except EngineError as exc:
            from headgate.runtime.query import unknown_table

            raise unknown_table(str(exc), sql, published, environment) or exc from None
        if quick is not None:
            return quick
        data = self.query(sql, environment, limit=limit)
        return QueryRows(data.column_names, [tuple(r.values()) for r in data.to_pylist()])

    def _published(self, environment: str) -> list[str]:
        """The names ``environment`` publishes; an error when it publishes nothing yet."""
        published: list[str] = self._reads.get(
            ("published", environment), lambda store: sorted(store.env_models(environment))
        )
        if not published:
            raise HeadgateError(
                f"environment {environment} has nothing published yet",
                hint=f"build it first: headgate run --env {environment}",
            )
        return published

    def runs(self, *, limit: int = 20, environment: str | None = None) -> list[RunRecord]:
        return self.state.list_runs(limit=limit, environment=environment)

    def run_detail(self, run_id: int, *, specs: bool = True) -> RunRecord:
        """The run with its tasks (and what each does, unless ``specs`` is False)."""
        record = self.state.get_run(run_id, specs=specs)
        if record is None:
            raise HeadgateError(f"no run {run_id}", hint="list runs with: headgate runs")
        return record

    def status(self, environment: str | None = None) -> EnvironmentStatus:
        """Each model's state in an environment: up to date, changed since published, or not published."""
        environment = self._environment(environment)
        self._settle_publishes()
        pointers, rows, last_run = self._reads.get(
            ("status", environment), _published_state(environment)
        )
        models = []
        for name in self.outline.order:
            kind, materialized = self.outline.kinds[name]
            pointer = pointers.get(name)
            current = self.fingerprints[name]
            state = model_state(pointer.fingerprint if pointer else None, current)
            models.append(
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
        counts: dict[str, int] = {}
        for m in models:
            counts[m.state] = counts.get(m.state, 0) + 1
        return EnvironmentStatus(environment, models, last_run, counts)

    # --- helpers ------------------------------------------------------------------------


def _published_state(
    environment: str,
) -> Callable[[StateStore], tuple[dict[str, EnvModel], dict[str, int | None], RunRecord | None]]:
    """What status reads from the store: the pointers, their tables' rows, the last run
    (with its tasks' counts by status; its tasks themselves are the run's detail)."""

    def read(
        store: StateStore,
    ) -> tuple[dict[str, EnvModel], dict[str, int | None], RunRecord | None]:
        pointers = store.env_models(environment)
        rows = store.published_rows(environment)  # not the whole registry of physical tables
        last = store.list_runs(limit=1, environment=environment)  # its counts, not its tasks
        return pointers, rows, last[0] if last else None

    return read
