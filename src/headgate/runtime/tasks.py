"""The work of one node: load a source, build a model (table, view, incremental, Python).

Every task is idempotent. A table is created in one statement, so it exists whole
or not at all; an incremental range is replaced in one transaction, so redoing it
after a crash neither loses nor doubles rows.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.engines.base import Engine, EngineSession, quote
from headgate.errors import EngineError, HeadgateError
from headgate.plan.planner import Plan, PlannedNode
from headgate.plan.rewrite import reference_targets, rewrite_references
from headgate.project.loader import LoadedProject
from headgate.project.models import ParsedModel
from headgate.project.pinning import pin_columns
from headgate.runtime.audit import AuditFailed, ProjectChecks, audit_table
from headgate.runtime.files import build_file_source, file_table
from headgate.runtime.ingest import load_external
from headgate.runtime.recorder import Recorder
from headgate.runtime.results import BUILT, FAILED, SKIPPED, TaskResult
from headgate.state.records import ModelVersion, PhysicalRecord, TaskRecord

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.checks.results import CheckResult


@dataclass
class BuildContext:
    """Shared by all tasks of one run."""

    project: LoadedProject
    plan: Plan
    engine: Engine
    recorder: Recorder
    run_id: int
    versions: dict[str, int]  # physical table -> data version, updated as the run goes
    registry: dict[str, PhysicalRecord]
    checks: ProjectChecks | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: Callable[[str, int], None] | None = None  # (task, rows so far) of long loads

    def physical_of(self, name: str) -> str:
        return self.plan.nodes[name].physical_table


def _reporter(ctx: BuildContext, name: str) -> Callable[[int], None] | None:
    report = ctx.progress
    return None if report is None else lambda rows: report(name, rows)


def run_node(ctx: BuildContext, node: PlannedNode) -> TaskResult:
    started = time.perf_counter()
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
    try:
        if node.kind == "source" and ctx.project.sources[node.name].external:
            source = ctx.project.sources[node.name]
            fresh = node.replace or not node.exists
            rows, changed, loaded = load_external(
                session,
                ctx.recorder.store,
                source,
                node.physical_table,
                fresh=fresh,
                root=ctx.project.root,
                progress=_reporter(ctx, node.name),
            )
            detail.update(loaded)
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
        if node.materialized != "incremental" and (not node.exists or node.action == "audit"):
            # the failed table is kept for inspection and never published; a refresh that
            # failed was built aside and dropped, so the table readers see stays as it was
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
    audit = "passed" if ctx.checks and ctx.checks.hash_of(node.name) else None
    if changed or node.action == "audit":
        _register(ctx, node, rows, audit=audit, bump=changed)
        _record_checks(ctx, node, checked)
    if changed:
        _record_version(ctx, session, node)
    status = BUILT if changed else SKIPPED
    return _result(ctx, node, status, rows, time.perf_counter() - started, None, detail, checked)


def _record_version(ctx: BuildContext, session: EngineSession, node: PlannedNode) -> None:
    """The query and columns behind this fingerprint, for plans to diff against later."""
    model = ctx.project.models.get(node.name)
    columns = [[name, kind] for name, kind in session.columns_of(node.physical_table)]
    query = model.normalized if model is not None and model.language == "sql" else None
    ctx.recorder.model_version(ModelVersion(node.fingerprint, node.name, query, columns))


def _audit(
    ctx: BuildContext, session: EngineSession, node: PlannedNode, table: str | None = None
) -> list[CheckResult]:
    """Run the node's checks on ``table`` (default: its physical table); AuditFailed if blocking."""
    if node.kind != "model" or ctx.checks is None or ctx.checks.hash_of(node.name) is None:
        return []
    store = ctx.recorder.store
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
    )


def _record_checks(ctx: BuildContext, node: PlannedNode, results: list[CheckResult]) -> None:
    if not results:
        return
    records = [r.to_record(run_id=ctx.run_id, physical_table=node.physical_table) for r in results]
    run_id, store = ctx.run_id, ctx.recorder.store
    ctx.recorder.call(lambda: store.record_check_results(run_id, records))


def failed_result(ctx: BuildContext, node: PlannedNode, status: str, error: str) -> TaskResult:
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
        )
    )
    return result


def _register(
    ctx: BuildContext, node: PlannedNode, rows: int | None, *, audit: str | None, bump: bool
) -> None:
    """Record the physical table: its data version (bumped when its data changed) and verdict."""
    previous = ctx.registry.get(node.physical_table)
    with ctx.lock:
        version = ctx.versions.get(node.physical_table, 0) + (1 if bump else 0)
        ctx.versions[node.physical_table] = max(version, 1)
        inputs = {
            ctx.physical_of(u): ctx.versions.get(ctx.physical_of(u), 1) for u in node.upstream
        }
    if node.kind == "source" and not ctx.project.sources[node.name].external:
        # a file source's view reads one table per file: they live as long as it does
        inputs = {
            file_table(node.physical_table, d): 1
            for _, _, d in ctx.project.sources[node.name].files
        }
    if not bump and previous is not None:
        rows, inputs = previous.rows if rows is None else rows, previous.inputs
    record = PhysicalRecord(
        name=node.physical_table,
        model=node.name,
        fingerprint=node.fingerprint,
        kind=node.materialized,
        rows=rows,
        data_version=max(version, 1),
        inputs=inputs,
        run_id=ctx.run_id,
        audit_status=audit,
        audit_hash=ctx.checks.hash_of(node.name) if ctx.checks else None,
    )
    ctx.registry[node.physical_table] = record
    ctx.recorder.physical(record)
    if bump and rows is not None and audit != "failed":
        # the baseline for `row_count: {max_change: ...}` and for monitors
        run_id, store = ctx.run_id, ctx.recorder.store
        ctx.recorder.call(
            lambda: store.record_metrics(
                run_id, node.name, node.physical_table, {"row_count": rows}
            )
        )


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
            lambda: ctx.recorder.store.record_loaded_files(node.physical_table, loaded.files)
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
    """Build the model's table; audited before it can replace anything a reader sees."""
    if node.action == "refresh" and not node.force and not _inputs_changed(ctx, node):
        return None, False
    if model.options.materialized == "incremental" and model.language == "sql":
        audit = lambda: checked.extend(_audit(ctx, session, node))  # noqa: E731
        return _build_incremental(
            ctx, session, model, node, _physical_sql(ctx, model), detail, audit
        )
    # A table readers may already see (a refresh) is built aside, audited, then swapped in.
    target = f"{node.physical_table}__staging" if node.exists else node.physical_table
    try:
        if model.language == "python":
            rows: int | None = session.create_table_from_arrow(
                target, _run_python(ctx, session, model)
            )
        elif model.options.materialized == "view":
            session.create_view_as(target, _physical_sql(ctx, model))
            rows = None
        else:
            rows = session.create_table_as(target, _physical_sql(ctx, model), replace=True)
        checked.extend(_audit(ctx, session, node, target))
    except BaseException:
        if target != node.physical_table:
            session.drop_relation(target, view=model.options.materialized == "view")
        raise
    if target != node.physical_table:
        session.swap_in(target, node.physical_table, view=model.options.materialized == "view")
    return rows, True


def _inputs_changed(ctx: BuildContext, node: PlannedNode) -> bool:
    record = ctx.registry.get(node.physical_table)
    if record is None:
        return True
    with ctx.lock:
        return any(
            record.inputs.get(ctx.physical_of(u)) != ctx.versions.get(ctx.physical_of(u))
            for u in node.upstream
        )


def _physical_sql(ctx: BuildContext, model: ParsedModel) -> str:
    resolve = {name: ctx.physical_of(name) for name in ctx.project.dag.upstream[model.name]}
    targets = reference_targets(model.references, resolve)
    return rewrite_references(model.normalized, targets, dialect=ctx.engine.capabilities.dialect)


def _build_incremental(
    ctx: BuildContext,
    session: EngineSession,
    model: ParsedModel,
    node: PlannedNode,
    sql: str,
    detail: dict[str, Any],
    audit: Callable[[], object],
) -> tuple[int | None, bool]:
    options = model.options
    target = node.physical_table
    if node.replace:
        session.execute(f"DROP TABLE IF EXISTS {quote(target)}")
        ctx.recorder.call(lambda: ctx.recorder.store.clear_intervals(target))
    session.create_empty_like(target, sql)
    keys = options.unique_key_columns
    if not options.time_column:
        deleted, inserted = session.merge_by_key(target, sql, keys, audit)
        detail.update(deleted=deleted, inserted=inserted)
        return session.row_count(target), True
    if node.restate:
        start, end = node.restate
        ctx.recorder.call(lambda: ctx.recorder.store.remove_interval(target, start, end))
    changed = node.replace or not node.exists
    processed = []
    for start, end in node.ranges:
        deleted, inserted = session.replace_time_range(
            target, sql, options.time_column, start, end, keys, audit
        )
        ctx.recorder.add_interval(target, start, end)
        processed.append(
            {"start": _iso(start), "end": _iso(end), "deleted": deleted, "inserted": inserted}
        )
        changed = changed or bool(deleted or inserted)
    detail["ranges"] = processed
    return session.row_count(target), changed


def _iso(value: datetime) -> str:
    return value.isoformat()


class ModelContext:
    """What a Python model's ``model(ctx)`` receives."""

    def __init__(self, session: EngineSession, targets: dict[str, str], environment: str) -> None:
        self._session = session
        self._targets = targets
        self.environment = environment

    def ref(self, name: str) -> pa.Table:
        """The whole of an upstream model or source, as an Arrow table."""
        target = self._targets.get(name.lower())
        if target is None:
            raise HeadgateError(
                f"ctx.ref('{name}'): not an upstream of this model",
                hint=f"upstream: {', '.join(sorted(self._targets))}",
            )
        return self._session.arrow(f"SELECT * FROM {quote(target)}")

    def sql(self, query: str) -> pa.Table:
        """Run a query that reads upstream models by name; returns an Arrow table."""
        return self._session.arrow(rewrite_references(query, self._targets))


def _run_python(ctx: BuildContext, session: EngineSession, model: ParsedModel) -> pa.Table:
    path = ctx.project.root / model.path
    spec = importlib.util.spec_from_file_location(
        f"headgate_model_{model.name.replace('.', '_')}", path
    )
    if spec is None or spec.loader is None:
        raise HeadgateError(f"{path}: cannot load Python model")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    targets = {name: ctx.physical_of(name) for name in ctx.project.dag.upstream[model.name]}
    value = module.model(ModelContext(session, targets, ctx.plan.environment))
    return to_arrow(value, path)


def to_arrow(value: object, path: Path) -> pa.Table:
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatchReader):
        return value.read_all()
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    module = type(value).__module__
    if module.startswith("pandas"):
        return pa.Table.from_pandas(value, preserve_index=False)
    if module.startswith("polars"):
        table = value.to_arrow()  # type: ignore[attr-defined]
        assert isinstance(table, pa.Table)
        return table
    raise EngineError(
        f"{path}: model() returned {type(value).__name__}; return a pyarrow Table, "
        "a pandas DataFrame or a polars DataFrame"
    )
