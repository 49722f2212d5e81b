"""The work of one node: load a source, build a model (table, view, incremental, Python).

Every task is idempotent. A table is created in one statement, so it exists whole
or not at all; an incremental range is replaced in one transaction, so redoing it
after a crash neither loses nor doubles rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headgate.engines.base import Engine, EngineSession
from headgate.engines.transpile import TranspileError
from headgate.errors import HeadgateError
from headgate.faults import step
from headgate.plan.planner import Plan, PlannedNode
from headgate.plan.rewrite import reference_targets, rewrite_references
from headgate.plan.versions import (
    derived_name,
)
from headgate.project.loader import LoadedProject
from headgate.project.models import ParsedModel
from headgate.project.pinning import pin_columns
from headgate.runtime.audit import AuditFailed, ProjectChecks, audit_table
from headgate.runtime.growing import build_version, load_source_version
from headgate.runtime.python_models import run_python_model
from headgate.runtime.recorder import Recorder
from headgate.runtime.results import BUILT, FAILED, SKIPPED, TaskResult
from headgate.runtime.specs import node_to_spec
from headgate.sources.files import build_file_source, file_table
from headgate.state.records import ModelVersion, PhysicalRecord, TaskRecord

if TYPE_CHECKING:
    from headgate.checks.results import CheckResult
    from headgate.checks.spec import Check


@dataclass
class BuildContext:
    """Shared by all tasks of one run."""

    project: LoadedProject
    plan: Plan
    engine: Engine
    recorder: Recorder
    run_id: int
    registry: dict[str, PhysicalRecord]
    checks: ProjectChecks | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: Callable[[str, int], None] | None = None  # (task, rows so far) of long loads
    waits: dict[str, set[str]] = field(default_factory=dict)  # what each task waits for
    attempts: dict[str, int] = field(default_factory=dict)  # each task's current attempt
    started: dict[str, datetime] = field(default_factory=dict)  # when each task began
    added: dict[str, str] = field(default_factory=dict)  # the newest segment a build wrote

    def physical_of(self, name: str) -> str:
        return self.plan.nodes[name].physical_table


def _reporter(ctx: BuildContext, name: str) -> Callable[[int], None] | None:
    report = ctx.progress
    return None if report is None else lambda rows: report(name, rows)


def run_node(ctx: BuildContext, node: PlannedNode, *, attempt: int = 1) -> TaskResult:
    started = time.perf_counter()
    ctx.attempts[node.name] = attempt
    _record_start(ctx, node)
    if node.missing_upstream:
        first = node.missing_upstream[0]
        raise HeadgateError(
            f"upstream {first} has no table for its current version",
            hint=f"select it too: --select +{node.name}",
        )
    session = ctx.engine.session()
    detail: dict[str, Any] = {}
    checked: list[CheckResult] = []
    rows: int | None
    if not _resolve_name(ctx, session, node):
        return skipped_result(ctx, node)
    try:
        if node.kind == "source" and ctx.project.sources[node.name].external:
            source = ctx.project.sources[node.name]
            rows, changed = load_source_version(
                ctx, session, node, source, detail, _reporter(ctx, node.name)
            )
        elif node.kind == "source":
            rows, changed = _load_files(ctx, session, node, detail)
        elif node.action == "audit":
            record = ctx.registry.get(node.physical_table)
            rows, changed = (record.rows if record else None), False
        else:
            model = ctx.project.models[node.name]
            rows, changed = _build_model(ctx, session, model, node, detail, checked)
        if node.action == "audit":
            checked.extend(_audit(ctx, session, node))
    except AuditFailed as failure:
        # the failed table is kept for inspection and never published: it has a name of
        # its own, so what readers see stays as it was
        _register(ctx, node, None, audit="failed", bump=False)
        _record_checks(ctx, node, failure.results)
        return _result(
            ctx,
            node,
            FAILED,
            None,
            time.perf_counter() - started,
            failure.message,
            detail,
            failure.results,
        )
    step("task done")
    audit = "passed" if ctx.checks and ctx.checks.hash_of(node.name) else None
    if changed or node.action == "audit":
        _register(ctx, node, rows, audit=audit, bump=changed)
        _record_checks(ctx, node, checked)
    if changed:
        columns = session.columns_of(node.physical_table)
        _record_version(ctx, node, columns)
        if node.kind == "model":
            _record_build_metrics(ctx, session, node, columns)
    status = BUILT if changed else SKIPPED
    return _result(ctx, node, status, rows, time.perf_counter() - started, None, detail, checked)


def _record_start(ctx: BuildContext, node: PlannedNode) -> None:
    """The task is running, from now: what the run's progress and its Gantt chart show."""
    ctx.started[node.name] = datetime.now(UTC)
    ctx.recorder.task(
        TaskRecord(
            run_id=ctx.run_id,
            name=node.name,
            kind=node.kind,
            status="running",
            fingerprint=node.fingerprint,
            physical_table=node.physical_table,
            spec=None,  # the spec the run was submitted with stands until the task ends
            attempts=ctx.attempts.get(node.name, 1),
            started_at=ctx.started[node.name],
        )
    )


def _record_build_metrics(
    ctx: BuildContext, session: EngineSession, node: PlannedNode, columns: list[tuple[str, str]]
) -> None:
    """Every column's metrics from the first build on, so a monitor added later judges at once."""
    if node.materialized == "view":
        return
    from headgate.runtime.monitoring import build_metrics

    dialect = ctx.engine.capabilities.dialect
    if ctx.checks is not None and any(c.type == "monitor" for c in ctx.checks.of(node.name)):
        # the audit's monitors recorded this run's metrics: the store is asked what is missing
        from headgate.runtime.monitoring import record_build_metrics

        store = ctx.recorder.writer
        record_build_metrics(
            session, store, node.name, node.physical_table, ctx.run_id, dialect=dialect
        )
        return
    table = node.physical_table
    if node.version is not None and node.growth is not None:
        # data that grows is measured by what this build added, never by a scan of it all
        newest = ctx.added.get(node.name)
        if newest is None:
            return
        table = newest
    per_column = build_metrics(session, table, dialect=dialect, columns=columns)
    if per_column:
        ctx.recorder.metrics(ctx.run_id, node.name, node.physical_table, per_column)


def _record_version(ctx: BuildContext, node: PlannedNode, columns: list[tuple[str, str]]) -> None:
    """The query and columns behind this fingerprint, for plans to diff against later."""
    listed = [[name, kind] for name, kind in columns]
    ctx.recorder.model_version(ModelVersion(node.fingerprint, node.name, node.query, listed))


def _audit(
    ctx: BuildContext, session: EngineSession, node: PlannedNode, table: str | None = None
) -> list[CheckResult]:
    """Run the node's checks on ``table`` (default: its physical table); AuditFailed if blocking."""
    if node.kind != "model" or ctx.checks is None or ctx.checks.hash_of(node.name) is None:
        return []
    store = ctx.recorder.writer
    return audit_table(
        session,
        ctx.project,
        ctx.checks,
        node.name,
        table or node.physical_table,
        dialect=ctx.engine.capabilities.dialect,
        resolve=lambda name: ctx.physical_of(name.lower()),
        previous_rows=store.previous_row_count(node.name),
        store=store,
        run_id=ctx.run_id,
        deferred=lambda check: _runs_later(ctx, node, check),
    )


def _runs_later(ctx: BuildContext, node: PlannedNode, check: Check) -> bool:
    """A custom check over models this run also builds after this one: they run it."""
    from headgate.checks.types.custom_sql import CustomSqlParams

    if not isinstance(check.params, CustomSqlParams):
        return False
    waits = ctx.waits.get(node.name, set())
    for name in check.params.reads:
        other = ctx.plan.nodes.get(name.lower())
        if other is not None and other.is_work and other.name not in (node.name, *waits):
            return True
    return False


def _record_checks(ctx: BuildContext, node: PlannedNode, results: list[CheckResult]) -> None:
    if not results:
        return
    records = [r.to_record(run_id=ctx.run_id, physical_table=node.physical_table) for r in results]
    run_id, store = ctx.run_id, ctx.recorder.writer
    ctx.recorder.call(lambda: store.record_check_results(run_id, records))


def failed_result(
    ctx: BuildContext, node: PlannedNode, status: str, error: str, *, attempt: int = 1
) -> TaskResult:
    ctx.attempts[node.name] = attempt
    return _result(ctx, node, status, None, 0.0, error, {}, [])


def skipped_result(ctx: BuildContext, node: PlannedNode) -> TaskResult:
    record = ctx.registry.get(node.physical_table)
    return TaskResult(
        name=node.name,
        kind=node.kind,
        status=SKIPPED,
        fingerprint=node.fingerprint,
        physical_table=node.physical_table,
        action=node.action,
        rows=record.rows if record else None,
    )


def _result(
    ctx: BuildContext,
    node: PlannedNode,
    status: str,
    rows: int | None,
    seconds: float,
    error: str | None,
    detail: dict[str, Any],
    checks: list[CheckResult],
) -> TaskResult:
    if error is not None:
        from headgate.sources.secrets import SEEN_SECRETS, mask

        error = mask(error, SEEN_SECRETS.get() or ())  # a net under every reader's own masking
    result = TaskResult(
        name=node.name,
        kind=node.kind,
        status=status,
        fingerprint=node.fingerprint,
        physical_table=node.physical_table,
        action=node.action,
        rows=rows,
        seconds=seconds,
        error=error,
        detail=detail,
        checks=list(checks),
    )
    ctx.recorder.task(
        TaskRecord(
            run_id=ctx.run_id,
            name=node.name,
            kind=node.kind,
            status=status,
            fingerprint=node.fingerprint,
            physical_table=node.physical_table,
            rows=rows,
            seconds=seconds,
            error=error,
            detail=detail,
            spec=node_to_spec(node),
            attempts=ctx.attempts.get(node.name, 1),
            started_at=ctx.started.get(node.name),
            ended_at=datetime.now(UTC),
        )
    )
    return result


def _register(
    ctx: BuildContext, node: PlannedNode, rows: int | None, *, audit: str | None, bump: bool
) -> None:
    """Record the physical table: what it was built from and its verdict.

    Its data never changes under this name (a change makes a new name), so the record is
    written once; an audit updates only its verdict.
    """
    previous = ctx.registry.get(node.physical_table)
    inputs = {ctx.physical_of(u): 1 for u in node.upstream}
    if node.kind == "source" and not ctx.project.sources[node.name].external:
        # a file source's view reads one table per file: they live as long as it does
        inputs = {
            file_table(node.physical_table, d): 1
            for _, _, d in ctx.project.sources[node.name].files
        }
    if not bump and previous is not None:
        rows, inputs = previous.rows if rows is None else rows, previous.inputs
    sequence = previous.data_version if previous is not None else 1  # a source's log position
    record = PhysicalRecord(
        name=node.physical_table,
        model=node.name,
        fingerprint=node.fingerprint,
        kind=node.materialized,
        rows=rows,
        data_version=sequence,
        inputs=inputs,
        run_id=ctx.run_id,
        audit_status=audit,
        audit_hash=ctx.checks.hash_of(node.name) if ctx.checks else None,
        segments=node.version.to_json() if node.version is not None else None,
    )
    ctx.registry[node.physical_table] = record
    ctx.recorder.physical(record)
    if bump and rows is not None and audit != "failed":
        # the baseline for `row_count: {max_change: ...}` and for monitors, written in one
        # batch with the other tasks' metrics
        ctx.recorder.metrics(ctx.run_id, node.name, node.physical_table, {"row_count": rows})


def _load_files(
    ctx: BuildContext, session: EngineSession, node: PlannedNode, detail: dict[str, Any]
) -> tuple[int | None, bool]:
    """The source's files, each loaded once and validated on the way in, behind one view."""
    source = ctx.project.sources[node.name]
    loaded = build_file_source(
        session, source, node.physical_table, ctx.project.root, fresh=node.replace
    )
    detail.update(loaded.detail())
    if loaded.files:
        ctx.recorder.call(
            lambda: ctx.recorder.writer.record_loaded_files(node.physical_table, loaded.files)
        )
    if loaded.contract_changed:
        pin_columns(source.declared_in, source.table, loaded.contract)
    return session.row_count(node.physical_table), True


def _build_model(
    ctx: BuildContext,
    session: EngineSession,
    model: ParsedModel,
    node: PlannedNode,
    detail: dict[str, Any],
    checked: list[CheckResult],
) -> tuple[int | None, bool]:
    """Build the model's table under a name of its own, audited before anything may point at it."""
    if model.options.materialized == "incremental" and model.language == "sql":
        sql = _physical_sql(ctx, node)
        grown_rows, changed, results = build_version(
            ctx, session, node, sql, detail, lambda: _audit(ctx, session, node)
        )
        checked.extend(results)
        return grown_rows, changed
    target = node.physical_table
    if model.language == "python":
        rows: int | None = session.create_table_from_arrow(
            target, run_python_model(ctx, session, model)
        )
    elif model.options.materialized == "view":
        session.create_view_as(target, _physical_sql(ctx, node))
        rows = None
    else:
        rows = session.create_table_as(target, _physical_sql(ctx, node), replace=True)
    checked.extend(_audit(ctx, session, node, target))
    return rows, True


def _resolve_name(ctx: BuildContext, session: EngineSession, node: PlannedNode) -> bool:
    """Name the node by the versions its upstream really has now; False when nothing is left to do.

    A plan names tables by the versions it expects upstream; a source that loaded new rows
    (or none) decides at run time, so names that depend on it are settled here.
    """
    if node.growth is not None or node.replace or not node.versioned or node.kind == "source":
        return True
    name = derived_name(node.base_table, [ctx.physical_of(u) for u in node.upstream])
    if name != node.physical_table:
        node.physical_table = name
        node.exists = session.table_exists(name)
    if node.action != "refresh":
        return True
    if not node.exists:
        node.action, node.reason = "build", "upstream data changed"
        return True
    record = ctx.registry.get(name)
    if record is not None and record.audit_status == "failed":
        node.action = "audit"
        return True
    return False


def _physical_sql(ctx: BuildContext, node: PlannedNode) -> str:
    """The node's query as planned, reading this run's physical tables."""
    assert node.query is not None, node.name
    resolve = {name: ctx.physical_of(name) for name in node.upstream}
    targets = reference_targets(node.references, resolve)
    columns = ctx.engine.session().columns_of  # what a translation to the engine's SQL may ask
    try:
        return rewrite_references(
            node.query, targets, dialect=ctx.engine.capabilities.dialect, columns=columns
        )
    except TranspileError as exc:
        raise exc.located(ctx.project.root / ctx.project.models[node.name].path) from None


def _iso(value: datetime) -> str:
    return value.isoformat()
