"""The work of one node: load a source, build a model (table, view, incremental, Python).

Every task is idempotent. A table is created in one statement, so it exists whole
or not at all; an incremental range is replaced in one transaction, so redoing it
after a crash neither loses nor doubles rows.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.engines.base import Engine, EngineSession, quote
from headgate.errors import EngineError, HeadgateError
from headgate.plan.planner import Plan, PlannedNode
from headgate.plan.rewrite import reference_targets, rewrite_references
from headgate.project.loader import LoadedProject, SourceTable
from headgate.project.models import ParsedModel
from headgate.runtime.recorder import Recorder
from headgate.runtime.results import BUILT, SKIPPED, TaskResult
from headgate.state.records import PhysicalRecord, TaskRecord

if TYPE_CHECKING:
    import pyarrow as pa


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
    lock: threading.Lock = field(default_factory=threading.Lock)

    def physical_of(self, name: str) -> str:
        return self.plan.nodes[name].physical_table


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
    rows: int | None
    if node.kind == "source":
        rows, changed = (
            _load_source(session, ctx.project.sources[node.name], node, ctx.project.root),
            True,
        )
    else:
        model = ctx.project.models[node.name]
        rows, changed = _build_model(ctx, session, model, node, detail)
    status = BUILT if changed else SKIPPED
    if changed:
        _register(ctx, node, rows)
    return _result(ctx, node, status, rows, time.perf_counter() - started, None, detail)


def failed_result(ctx: BuildContext, node: PlannedNode, status: str, error: str) -> TaskResult:
    return _result(ctx, node, status, None, 0.0, error, {})


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


def _register(ctx: BuildContext, node: PlannedNode, rows: int | None) -> None:
    with ctx.lock:
        version = ctx.versions.get(node.physical_table, 0) + 1
        ctx.versions[node.physical_table] = version
        inputs = {
            ctx.physical_of(u): ctx.versions.get(ctx.physical_of(u), 1) for u in node.upstream
        }
    record = PhysicalRecord(
        name=node.physical_table,
        model=node.name,
        fingerprint=node.fingerprint,
        kind=node.materialized,
        rows=rows,
        data_version=version,
        inputs=inputs,
        run_id=ctx.run_id,
    )
    ctx.registry[node.physical_table] = record
    ctx.recorder.physical(record)


def _load_source(session: EngineSession, source: SourceTable, node: PlannedNode, root: Path) -> int:
    if not source.files:
        raise HeadgateError(
            f"source {source.name}: no file matches '{source.config.path}'",
            hint=f"check the path in {source.declared_in.name} (relative to the project folder)",
        )
    files = "[" + ", ".join(_string(str(root / f)) for f, _, _ in source.files) + "]"
    fmt = source.config.resolved_format()
    if fmt in ("csv", "tsv"):
        delimiter = source.config.delimiter or ("\t" if fmt == "tsv" else ",")
        reader = f"read_csv({files}, header={str(source.config.header).lower()}, delim={_string(delimiter)}, union_by_name=true)"
    elif fmt == "parquet":
        reader = f"read_parquet({files}, union_by_name=true)"
    elif fmt == "ndjson":
        reader = f"read_json({files}, format='newline_delimited', union_by_name=true)"
    elif fmt == "json":
        reader = f"read_json({files}, format='auto', union_by_name=true)"
    else:
        raise HeadgateError(
            f"source {source.name}: unknown file format '{fmt}'",
            hint="use csv, tsv, parquet, json or ndjson",
        )
    return session.create_table_as(node.physical_table, f"SELECT * FROM {reader}", replace=True)


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _build_model(
    ctx: BuildContext,
    session: EngineSession,
    model: ParsedModel,
    node: PlannedNode,
    detail: dict[str, Any],
) -> tuple[int | None, bool]:
    if node.action == "refresh" and not node.force and not _inputs_changed(ctx, node):
        return None, False
    if model.language == "python":
        data = _run_python(ctx, session, model)
        return session.create_table_from_arrow(node.physical_table, data), True
    sql = _physical_sql(ctx, model)
    options = model.options
    if options.materialized == "view":
        session.create_view_as(node.physical_table, sql)
        return None, True
    if options.materialized == "table":
        return session.create_table_as(node.physical_table, sql, replace=True), True
    return _build_incremental(ctx, session, model, node, sql, detail)


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
) -> tuple[int | None, bool]:
    options = model.options
    target = node.physical_table
    if node.replace:
        session.execute(f"DROP TABLE IF EXISTS {quote(target)}")
        ctx.recorder.call(lambda: ctx.recorder.store.clear_intervals(target))
    session.create_empty_like(target, sql)
    keys = options.unique_key_columns
    if not options.time_column:
        deleted, inserted = session.merge_by_key(target, sql, keys)
        detail.update(deleted=deleted, inserted=inserted)
        return session.row_count(target), True
    if node.restate:
        start, end = node.restate
        ctx.recorder.call(lambda: ctx.recorder.store.remove_interval(target, start, end))
    changed = node.replace or not node.exists
    processed = []
    for start, end in node.ranges:
        deleted, inserted = session.replace_time_range(
            target, sql, options.time_column, start, end, keys
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
