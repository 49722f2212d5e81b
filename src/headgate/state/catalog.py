"""Physical tables, environments' pointers at them, and incremental intervals.

An environment is a set of pointers (model -> physical table). Publishing changes those
pointers in one transaction, so the store never shows an environment half published, just
as the warehouse's view swap never shows readers half of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from headgate.state import intervals as interval_math
from headgate.state.database import Database
from headgate.state.records import EnvironmentRecord, EnvModel, Interval, PhysicalRecord
from headgate.state.sqltypes import as_utc, now
from headgate.state.tables import deployments, env_models, environments, physical_tables
from headgate.state.tables import intervals as intervals_table

CHUNK = 500
"""Names per ``IN (...)`` list: far below every backend's limit on bound parameters."""


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# physical tables


def register_physical(db: Database, records: Sequence[PhysicalRecord]) -> None:
    """Upsert by name in one transaction; a table keeps the time it was first registered."""
    stamp = now()
    latest = {record.name: record for record in records}  # a name listed twice: the last wins
    rows = [asdict(record) for record in latest.values()]
    for row in rows:
        row["created_at"] = row["created_at"] or stamp
        row["inputs"] = row["inputs"] or {}
    with db.write("registering physical tables") as conn:
        db.upsert(conn, physical_tables, ("name",), rows, keep=("created_at",))


def physical_tables_by_name(db: Database) -> dict[str, PhysicalRecord]:
    with db.read() as conn:
        rows = conn.execute(select(physical_tables)).all()
    return {row.name: _physical(row) for row in rows}


def builds_of(db: Database, model: str, limit: int) -> list[PhysicalRecord]:
    """The physical tables of one model, newest first (its builds, for its page)."""
    query = (
        select(physical_tables)
        .where(physical_tables.c.model == model)
        .order_by(physical_tables.c.created_at.desc(), physical_tables.c.name)
        .limit(limit)
    )
    with db.read() as conn:
        return [_physical(row) for row in conn.execute(query)]


def published_rows(db: Database, environment: str) -> dict[str, int | None]:
    """The row counts of the physical tables ``environment`` points at, keyed by table name:
    one join, without reading (and decoding) the rest of the registry."""
    query = (
        select(physical_tables.c.name, physical_tables.c.rows)
        .select_from(
            env_models.join(physical_tables, env_models.c.physical_table == physical_tables.c.name)
        )
        .where(env_models.c.environment == environment)
    )
    with db.read() as conn:
        return {name: rows for name, rows in conn.execute(query)}


def drop_physical(db: Database, names: Sequence[str]) -> None:
    """Forget physical tables and the intervals they held (the data is gone with them)."""
    unique = sorted(set(names))
    with db.write("dropping physical tables") as conn:
        for chunk in _chunks(unique):
            conn.execute(delete(physical_tables).where(physical_tables.c.name.in_(chunk)))
            conn.execute(delete(intervals_table).where(intervals_table.c.physical_table.in_(chunk)))


def _physical(row: Row[Any]) -> PhysicalRecord:
    values = dict(row._mapping)
    values["inputs"] = values["inputs"] or {}
    return PhysicalRecord(**values)


# environments


def ensure_environment(
    db: Database, name: str, created_by: str | None, from_environment: str | None
) -> None:
    """Create the environment's record unless it exists; an existing one is left unchanged.

    Pointers are not copied from ``from_environment`` here: they become true only once the
    environment's views exist in the warehouse, so the domain copies them through
    :func:`publish` after creating the views.
    """
    with db.write("creating an environment") as conn:
        _ensure(db, conn, name, created_by, from_environment)


def _ensure(
    db: Database,
    conn: Connection,
    name: str,
    created_by: str | None = None,
    from_environment: str | None = None,
    stamp: datetime | None = None,
) -> None:
    db.insert_if_absent(
        conn,
        environments,
        {
            "name": name,
            "created_at": stamp or now(),
            "created_by": created_by,
            "from_environment": from_environment,
            "updated_at": None,
        },
    )


def list_environments(db: Database) -> list[EnvironmentRecord]:
    counts = (
        select(env_models.c.environment, func.count().label("models"))
        .group_by(env_models.c.environment)
        .subquery()
    )
    query = (
        select(environments, func.coalesce(counts.c.models, 0).label("models"))
        .outerjoin(counts, counts.c.environment == environments.c.name)
        .order_by(environments.c.name)
    )
    with db.read() as conn:
        return [EnvironmentRecord(**dict(row._mapping)) for row in conn.execute(query)]


def env_models_of(db: Database, environment: str) -> dict[str, EnvModel]:
    columns = [env_models.c[f.name] for f in fields(EnvModel)]  # in the record's own order
    query = select(*columns).where(env_models.c.environment == environment)
    with db.read() as conn:  # positional: a thousand pointers without a mapping each
        return {row[1]: EnvModel(*row) for row in conn.execute(query)}


def publish(
    db: Database,
    environment: str,
    models: Sequence[EnvModel],
    removed: Sequence[str],
    run_id: int | None,
    deployment_id: int | None = None,
) -> None:
    """Repoint ``models`` and drop ``removed`` in ONE transaction: all of it or none.

    With ``deployment_id``, the pending deployment is marked complete in the same one.

    Records are stored under ``environment`` whatever their own ``environment`` field says,
    so pointers read from one environment can be published into another as they are.
    """
    stamp = now()
    rows = [
        {
            "environment": environment,
            "model": model.model,
            "fingerprint": model.fingerprint,
            "physical_table": model.physical_table,
            "published_at": stamp,
            "run_id": run_id if run_id is not None else model.run_id,
        }
        for model in {model.model: model for model in models}.values()  # the last one wins
    ]
    with db.write(f"publishing environment {environment}") as conn:
        if deployment_id is not None:
            conn.execute(
                update(deployments).where(deployments.c.id == deployment_id).values(state=None)
            )
        _ensure(db, conn, environment, stamp=stamp)
        db.upsert(conn, env_models, ("environment", "model"), rows)
        for chunk in _chunks(list(removed)):
            conn.execute(
                delete(env_models).where(
                    env_models.c.environment == environment, env_models.c.model.in_(chunk)
                )
            )
        conn.execute(
            update(environments).where(environments.c.name == environment).values(updated_at=stamp)
        )


def delete_environment(db: Database, name: str) -> None:
    with db.write(f"deleting environment {name}") as conn:
        conn.execute(delete(env_models).where(env_models.c.environment == name))
        conn.execute(delete(environments).where(environments.c.name == name))


# incremental intervals


def intervals_of(db: Database, physical_table: str) -> list[Interval]:
    with db.read() as conn:
        return interval_math.merge(_read_intervals(conn, physical_table))


def change_intervals(
    db: Database,
    physical_table: str,
    change: Callable[[list[Interval]], list[Interval]],
) -> None:
    """Read, change and rewrite one table's intervals, serialized against other writers."""
    with db.write(f"recording intervals of {physical_table}") as conn:
        db.serialize(conn, f"intervals:{physical_table}")
        updated = interval_math.merge(change(_read_intervals(conn, physical_table)))
        conn.execute(
            delete(intervals_table).where(intervals_table.c.physical_table == physical_table)
        )
        if updated:
            conn.execute(
                insert(intervals_table),
                [
                    {"physical_table": physical_table, "start_at": i.start, "end_at": i.end}
                    for i in updated
                ],
            )


def interval(start: datetime, end: datetime) -> Interval:
    """An interval from caller arguments, refused if it runs backwards."""
    return interval_math.checked(Interval(as_utc(start), as_utc(end)))


def _read_intervals(conn: Connection, physical_table: str) -> list[Interval]:
    query = (
        select(intervals_table.c.start_at, intervals_table.c.end_at)
        .where(intervals_table.c.physical_table == physical_table)
        .order_by(intervals_table.c.start_at)
    )
    return [Interval(row.start_at, row.end_at) for row in conn.execute(query)]
