"""Reading: queries against an environment, run history, and each model's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from headgate.errors import EngineError, HeadgateError
from headgate.facade.base import ProjectBase
from headgate.plan.naming import view_name

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.state.records import RunRecord


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
        published = self.state.env_models(environment)
        if not published:
            raise HeadgateError(
                f"environment {environment} has nothing published yet",
                hint=f"build it first: headgate run --env {environment}",
            )
        rewritten = environment_query(
            sql, {name: view_name(name, environment) for name in published}, limit=limit
        )
        with self._engine(read_only=True) as engine:
            try:
                return engine.session().arrow(rewritten)
            except EngineError as exc:
                raise unknown_table(str(exc), sql, sorted(published), environment) or exc from None

    def runs(self, *, limit: int = 20, environment: str | None = None) -> list[RunRecord]:
        return self.state.list_runs(limit=limit, environment=environment)

    def run_detail(self, run_id: int) -> RunRecord:
        record = self.state.get_run(run_id)
        if record is None:
            raise HeadgateError(f"no run {run_id}", hint="list runs with: headgate runs")
        return record

    def status(self, environment: str | None = None) -> EnvironmentStatus:
        """Each model's state in an environment: up to date, changed since published, or not published."""
        environment = self._environment(environment)
        pointers = self.state.env_models(environment)
        registry = self.state.physical_tables()
        models = []
        for name in self.loaded.dag.order:
            model = self.loaded.models.get(name)
            pointer = pointers.get(name)
            current = self.fingerprints[name]
            state = (
                "not published"
                if pointer is None
                else ("up to date" if pointer.fingerprint == current else "changed")
            )
            record = registry.get(pointer.physical_table) if pointer else None
            models.append(
                ModelStatus(
                    name=name,
                    kind="model" if model else "source",
                    materialized=model.options.materialized if model else "source",
                    state=state,
                    fingerprint=current,
                    published_fingerprint=pointer.fingerprint if pointer else None,
                    rows=record.rows if record else None,
                    published_at=pointer.published_at if pointer else None,
                )
            )
        counts: dict[str, int] = {}
        for m in models:
            counts[m.state] = counts.get(m.state, 0) + 1
        return EnvironmentStatus(environment, models, self.state.last_run(environment), counts)

    # --- helpers ------------------------------------------------------------------------
