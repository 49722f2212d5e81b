"""Writing new versions of data that grows: an incremental model's ranges or merges, a source's loads.

Nothing here writes over an existing object. New batches become new segments (each
created in one statement, so it exists whole or not at all), compaction writes merged
segments, and the version is a new view over them (see ``plan/versions.py``). What any
environment reads stays exactly as it was until its publish points at the new version;
a run that fails or is killed leaves only objects nobody points at, which the next run
reuses (same inputs, same names) or the janitor drops.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from headgate.engines.base import EngineSession, literal_time, quote
from headgate.faults import step
from headgate.plan.planner import PlannedNode, latest_source_version
from headgate.plan.versions import (
    GrownVersion,
    Mode,
    Segment,
    Version,
    add_segments,
    grow,
    segment_name,
    version_name,
    version_sql,
)
from headgate.state.records import PhysicalRecord

if TYPE_CHECKING:
    from headgate.checks.results import CheckResult
    from headgate.project.loader import SourceTable
    from headgate.runtime.tasks import BuildContext


def build_version(
    ctx: BuildContext,
    session: EngineSession,
    node: PlannedNode,
    sql: str,
    detail: dict[str, Any],
    audit: Callable[[], list[CheckResult]],
) -> tuple[int | None, bool, list[CheckResult]]:
    """An incremental model's new version: new segments, compaction, a view over them, audited."""
    assert node.growth is not None
    growth = node.growth
    before = node.physical_table if node.exists else None
    grown = grow(node.base_table, growth, [ctx.physical_of(u) for u in node.upstream])
    existing = ctx.engine.existing_tables(ctx.project.config.physical_schema)
    previous = _published_version(ctx, node)
    covered = Version(growth.mode, growth.base_segments).covered()
    processed = []
    for segment in grown.new:
        if segment.ranges:
            start, end = (datetime.fromisoformat(v) for v in segment.ranges[0])
            column = quote(growth.time_column or "")
            batch = (
                f"SELECT * FROM ({sql}) AS q WHERE {column} >= {literal_time(start)} "
                f"AND {column} < {literal_time(end)}"
            )
            write_segment(ctx, session, segment, batch, existing)
            overlaps = any(s < end and e > start for s, e in covered)
            replaced = (
                _rows_in_range(session, previous, growth.time_column, start, end) if overlaps else 0
            )
            processed.append(
                {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "deleted": replaced,
                    "inserted": segment.rows,
                }
            )
        else:
            write_segment(ctx, session, segment, sql, existing)
            detail["inserted"] = segment.rows
    if not grown.version.segments:
        # nothing due yet: an empty segment gives the version its columns
        empty = Segment(segment_name(node.base_table, "empty"))
        write_segment(ctx, session, empty, f"SELECT * FROM ({sql}) AS q LIMIT 0", existing)
        grown.version.segments = [empty]
    name = _finish_version(ctx, session, node.base_table, grown, existing)
    node.physical_table, node.version, node.exists = name, grown.version, True
    if grown.new:
        ctx.added[node.name] = grown.new[-1].table
    if growth.time_column:
        detail["ranges"] = processed
    checked = audit()
    return session.row_count(name), name != before, checked


def load_source_version(
    ctx: BuildContext,
    session: EngineSession,
    node: PlannedNode,
    source: SourceTable,
    detail: dict[str, Any],
    progress: Callable[[int], None] | None,
) -> tuple[int | None, bool]:
    """Load what a database, API or stream has that the source's latest version lacks.

    The new rows land in a segment of their own; the source's new version is its latest
    version plus that segment (or the segment alone, for a source read whole). Loads
    form one log per source, whichever environment runs them, so a stream's messages,
    consumed once, reach every environment that publishes a later version.
    """
    from headgate.sources.types import LoadRequest, loading_source_type

    mode: Mode = "append" if source.appends else "replace"
    head = (
        None if node.replace else latest_source_version(ctx.registry, node.name, node.fingerprint)
    )
    segments = [Segment.from_json(s) for s in head.segments or []] if head is not None else []
    sequence = head.data_version + 1 if head is not None else 1
    before = head.name if head is not None else None
    table = segment_name(node.base_table, "load", ctx.run_id, before)
    segment = Segment(table)
    existing = ctx.engine.existing_tables(ctx.project.config.physical_schema)

    def provisional() -> None:
        """A stream's batch is in the log before it is acknowledged: never lost by a crash."""
        segment.columns = session.columns_of(table)
        grown = add_segments(node.base_table, mode, segments, [segment])
        _register_version(ctx, node, grown.version, name=None, sequence=sequence)

    loaded = loading_source_type(source.kind).load(
        LoadRequest(
            session,
            source,
            table,
            after=segments[-1].cursor if segments and mode == "append" else None,
            seen=[s.table for s in segments[-1:]],
            root=ctx.project.root,
            progress=progress,
            on_commit=provisional,
        )
    )
    detail.update(loaded.detail)
    if not loaded.rows and mode == "append" and head is not None:
        session.drop_relation(table)
        _drop_rejects(session, table)
        node.physical_table, node.version = head.name, Version(mode, segments)
        return head.rows, False
    segment.rows, segment.cursor = loaded.rows, loaded.cursor
    segment.columns = session.columns_of(table)
    existing.add(table)
    grown = add_segments(node.base_table, mode, segments, [segment])
    name = _finish_version(ctx, session, node.base_table, grown, existing)
    _rejects_view(session, name, grown.version)
    node.physical_table, node.version, node.exists = name, grown.version, True
    _register_version(ctx, node, grown.version, name=name, sequence=sequence)
    return session.row_count(name), True


def _finish_version(
    ctx: BuildContext,
    session: EngineSession,
    base: str,
    grown: GrownVersion,
    existing: set[str],
) -> str:
    """Write the merged segments compaction asks for, then the version's view; its name."""
    version = grown.version
    for table, group in grown.merged.items():
        combined = next(s for s in version.segments if s.table == table)
        merged = Version(version.mode, group, version.keys, version.time_column)
        write_segment(ctx, session, combined, _sql(merged), existing)
    name = version_name(base, version)
    if name not in existing:
        session.create_view_as(name, _sql(version))
        existing.add(name)
        step("version view created")
    return name


def _register_version(
    ctx: BuildContext, node: PlannedNode, version: Version, *, name: str | None, sequence: int
) -> None:
    """Written at once (not queued): the log must hold a load before the source forgets it."""
    record = PhysicalRecord(
        name=name or version_name(node.base_table, version),
        model=node.name,
        fingerprint=node.fingerprint,
        kind="source",
        rows=version.rows,
        data_version=sequence,
        run_id=ctx.run_id,
        segments=version.to_json(),
    )
    ctx.registry[record.name] = record
    ctx.recorder.store.register_physical([record])


def _sql(version: Version) -> str:
    return version_sql(version, '"', literal_time=literal_time)


def write_segment(
    ctx: BuildContext,
    session: EngineSession,
    segment: Segment,
    select_sql: str,
    existing: set[str],
) -> None:
    """Create one segment in one statement (whole or not at all); one that exists is kept."""
    if segment.table in existing:
        record = ctx.registry.get(segment.table)
        segment.rows = record.rows if record is not None else session.row_count(segment.table)
    else:
        segment.rows = session.create_table_as(segment.table, select_sql)
        existing.add(segment.table)
        step("segment written")
    segment.columns = session.columns_of(segment.table)


def _rejects_view(session: EngineSession, name: str, version: Version) -> None:
    """A stream's rejected messages, across its segments, beside the version."""
    tables = [f"{s.table}__rejects" for s in version.segments]
    present = [t for t in tables if session.table_exists(t)]
    if present:
        union = "\nUNION ALL\n".join(f"SELECT * FROM {quote(t)}" for t in present)
        session.create_view_as(f"{name}__rejects", union)


def _drop_rejects(session: EngineSession, table: str) -> None:
    session.drop_relation(f"{table}__rejects")


def _published_version(ctx: BuildContext, node: PlannedNode) -> str | None:
    """The version the environment publishes now (what a replaced range is compared with)."""
    pointer = ctx.recorder.store.env_models(ctx.plan.environment).get(node.name)
    if pointer is None or pointer.fingerprint != node.fingerprint:
        return None
    return pointer.physical_table


def _rows_in_range(
    session: EngineSession,
    version: str | None,
    column: str | None,
    start: datetime,
    end: datetime,
) -> int:
    if version is None or column is None:
        return 0
    quoted = quote(column)
    found = session.execute(
        f"SELECT count(*) FROM {quote(version)} WHERE {quoted} >= {literal_time(start)} "
        f"AND {quoted} < {literal_time(end)}"
    )
    return int(found[0][0])
