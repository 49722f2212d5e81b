"""``headgate test``: run checks on what an environment publishes, without building anything.

The same audit the run performs, applied to the tables the environment's views point at,
so a team can check production on a schedule or after a change in a source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from headgate.errors import HeadgateError
from headgate.runtime.audit import AuditFailed, ProjectChecks, audit_table
from headgate.runtime.results import check_json

if TYPE_CHECKING:
    from headgate.checks.results import CheckResult
    from headgate.engines.base import Engine
    from headgate.project.loader import LoadedProject
    from headgate.state.records import PhysicalRecord
    from headgate.state.store import StateStore


@dataclass
class CheckReport:
    environment: str
    run_id: int | None
    results: list[CheckResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # model -> why it could not be checked
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors and not any(r.blocking for r in self.results)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "run_id": self.run_id,
            "status": "success" if self.ok else "failed",
            "counts": self.counts(),
            "checks": [{"model": r.model, **check_json(r)} for r in self.results],
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


def check_environment(
    project: LoadedProject,
    checks: ProjectChecks,
    engine: Engine,
    store: StateStore,
    *,
    environment: str,
    models: set[str] | None,
    run_id: int | None,
) -> CheckReport:
    """Check every published model (or the selected ones) that has checks."""
    started = time.perf_counter()
    pointers = store.env_models(environment)
    if not pointers:
        raise HeadgateError(
            f"environment {environment} has nothing published yet",
            hint=f"build it first: headgate run --env {environment}",
        )
    result = CheckReport(environment, run_id)
    registry = store.physical_tables()
    session = engine.session()
    targets = {name: pointer.physical_table for name, pointer in pointers.items()}
    for name in project.dag.order:
        if name not in pointers or checks.hash_of(name) is None:
            continue
        if models is not None and name not in models:
            continue
        table = pointers[name].physical_table
        verdict = "passed"
        try:
            found = audit_table(
                session,
                project,
                checks,
                name,
                table,
                dialect=engine.capabilities.dialect,
                resolve=lambda ref: targets[ref.lower()],
                previous_rows=None,
                store=store,
                run_id=run_id,
                record=False,  # a test is no build: the charts grow with builds only
            )
        except AuditFailed as failure:
            found, verdict = failure.results, "failed"
        except HeadgateError as exc:
            result.errors[name] = exc.render()
            continue
        result.results.extend(found)
        _remember_verdict(store, registry.get(table), verdict, checks.hash_of(name))
        store.record_check_results(
            run_id, [r.to_record(run_id=run_id, physical_table=table) for r in found]
        )
    result.seconds = time.perf_counter() - started
    return result


def _remember_verdict(
    store: StateStore, record: PhysicalRecord | None, verdict: str, checks: str | None
) -> None:
    """The verdict on a published table is what a deployment gate reads."""
    if record is not None:
        store.register_physical([replace(record, audit_status=verdict, audit_hash=checks)])
