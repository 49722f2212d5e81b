"""Write-audit-publish: a model's checks run on its new physical table before anything is published.

A table whose ``error`` checks fail is kept (for inspection) but marked failed, so
neither this run nor a later one publishes it; a later run re-audits it only when
its checks changed. Incremental models are audited inside the transaction that
adds their new range, so a failing batch is rolled back and readers never see it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from headgate.engines.base import EngineSession, quote
from headgate.errors import HeadgateError, ProjectError, ProjectErrors
from headgate.project.loader import LoadedProject

if TYPE_CHECKING:
    from headgate.checks.results import CheckResult
    from headgate.checks.spec import Check
    from headgate.state.store import StateStore


class AuditFailed(HeadgateError):
    """Error-severity checks failed: the table must not be published."""

    def __init__(self, message: str, results: list[CheckResult]) -> None:
        super().__init__(message)
        self.results = results


@dataclass
class ProjectChecks:
    """Every model's checks, validated against the project (columns are checked after a build)."""

    by_model: dict[str, list[Check]]
    custom: dict[str, list[Check]]
    hashes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, project: LoadedProject) -> ProjectChecks:
        from headgate.checks.parse import parse_custom_checks, parse_model_checks

        by_model: dict[str, list[Check]] = {}
        errors: list[ProjectError] = []
        for name, model in project.models.items():
            try:
                found = parse_model_checks(model, project.root)
            except ProjectErrors as exc:
                errors.extend(exc.errors)
                continue
            except ProjectError as exc:
                errors.append(exc)
                continue
            if found:
                by_model[name] = found
        custom: dict[str, list[Check]] = {}
        try:
            for check in parse_custom_checks(project.root, models=set(project.models)):
                custom.setdefault(check.model, []).append(check)
        except ProjectErrors as exc:
            errors.extend(exc.errors)
        except ProjectError as exc:
            errors.append(exc)
        if errors:
            raise errors[0] if len(errors) == 1 else ProjectErrors(errors)
        errors += _invalid_monitors(by_model)
        if errors:
            raise errors[0] if len(errors) == 1 else ProjectErrors(errors)
        loaded = cls(by_model, custom)
        loaded.hashes = {m: _hash(loaded.of(m)) for m in set(by_model) | set(custom)}
        return loaded

    def of(self, model: str) -> list[Check]:
        return self.by_model.get(model, []) + self.custom.get(model, [])

    def hash_of(self, model: str) -> str | None:
        return self.hashes.get(model)

    def reads(self, model: str) -> list[str]:
        """Other models the checks of ``model`` read: relationships' ``to``, custom SQL's tables.

        A run that builds one of them must audit ``model`` after that build, or the check
        reads a table that does not exist yet.
        """
        from headgate.checks.types.custom_sql import CustomSqlParams
        from headgate.checks.types.relationships import RelationshipsParams

        found: list[str] = []
        for check in self.of(model):
            if isinstance(check.params, RelationshipsParams):
                found.append(check.params.to.lower())
            elif isinstance(check.params, CustomSqlParams):
                found += [name.lower() for name in check.params.reads]
        return sorted({name for name in found if name != model})


def audit_table(
    session: EngineSession,
    project: LoadedProject,
    checks: ProjectChecks,
    model: str,
    table: str,
    *,
    dialect: str,
    resolve: Callable[[str], str],
    previous_rows: float | None,
    store: StateStore | None = None,
    run_id: int | None = None,
    record: bool = True,
    deferred: Callable[[Check], bool] | None = None,
) -> list[CheckResult]:
    """Run ``model``'s checks on ``table``; raises AuditFailed when an error-severity check fails.

    ``deferred`` picks checks run elsewhere: a custom check over several models that this
    run builds is run once, by the last of them to be built.
    """
    from headgate.checks.parse import parse_model_checks
    from headgate.checks.runner import run_checks

    declared = checks.by_model.get(model, [])
    if declared:
        columns = session.arrow(f"SELECT * FROM {quote(table)} LIMIT 0").column_names
        declared = parse_model_checks(project.models[model], project.root, columns)
    to_run = declared + checks.custom.get(model, [])
    if deferred is not None:
        to_run = [check for check in to_run if not deferred(check)]
    if not to_run:
        return []
    previous = {model: previous_rows} if previous_rows is not None else None
    results = run_checks(
        session, table, to_run, dialect=dialect, previous=previous, resolve=resolve
    )
    monitors = [c for c in to_run if c.type == "monitor"]
    if monitors and store is not None:
        from headgate.runtime.monitoring import evaluate_monitors

        blocked = any(r.blocking for r in results)  # a refused build is no history
        results += evaluate_monitors(
            session,
            store,
            monitors,
            table,
            dialect=dialect,
            run_id=run_id,
            record=record and not blocked,
        )
    blocking = [r for r in results if r.blocking]
    if blocking:
        names = ", ".join(f"{r.name} ({r.message})" for r in blocking[:3])
        more = f" and {len(blocking) - 3} more" if len(blocking) > 3 else ""
        raise AuditFailed(f"{len(blocking)} check(s) failed: {names}{more}", results)
    return results


def _invalid_monitors(by_model: dict[str, list[Check]]) -> list[ProjectError]:
    from headgate.runtime.monitoring import spec_of

    problems = []
    for checks in by_model.values():
        for check in checks:
            if check.type != "monitor":
                continue
            try:
                spec_of(check)
            except ValueError as exc:
                problems.append(
                    ProjectError(
                        f"check {check.name}: {exc}",
                        check.location,
                        hint="e.g. monitor: {metric: null_fraction, method: median, window: 20}",
                    )
                )
    return problems


def _hash(checks: list[Check]) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for check in checks:
        params = (
            check.params.model_dump(mode="json")
            if hasattr(check.params, "model_dump")
            else check.params
        )
        digest.update(
            json.dumps(
                [
                    check.name,
                    check.type,
                    check.column,
                    params,
                    check.severity,
                    check.where,
                    repr(check.max_failures),
                ],
                sort_keys=True,
                default=str,
            ).encode()
        )
    return digest.hexdigest()
