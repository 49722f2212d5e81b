"""What the data looked like: check results, profiles and per-run model metrics.

Check results are what write-audit-publish decided on and what a user reads back
("why did run 41 not publish?"); profiles are the statistics test generation starts
from; metrics are the per-run series the statistical monitors chart. All three are
append-only history, read newest (or, for a series, oldest) first.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, insert, select

from headgate.state.database import Database
from headgate.state.records import CheckResultRecord
from headgate.state.sqltypes import now
from headgate.state.tables import check_results, model_metrics, profiles

# check results

TABLES_PER_QUERY = 400
"""Tables (and as many models) per ``IN (...)`` list: within every backend's parameters."""


def record_check_results(
    db: Database, run_id: int | None, results: Sequence[CheckResultRecord]
) -> None:
    """Append the results of one audit in one transaction, stamped with ``run_id``."""
    if not results:
        return
    stamp = now()
    rows = []
    for record in results:
        row = asdict(record)
        row.pop("id")
        row["run_id"] = run_id
        row["created_at"] = record.created_at or stamp
        row["sample"] = json_safe(record.sample or [])
        rows.append(row)
    with db.write("recording check results") as conn:
        conn.execute(insert(check_results), rows)


def list_check_results(
    db: Database, run_id: int | None, model: str | None, status: str | None, limit: int
) -> list[CheckResultRecord]:
    query = select(check_results).order_by(check_results.c.id.desc()).limit(limit)
    if run_id is not None:
        query = query.where(check_results.c.run_id == run_id)
    if model is not None:
        query = query.where(check_results.c.model == model)
    if status is not None:
        query = query.where(check_results.c.status == status)
    with db.read() as conn:
        return [_check_result(row) for row in conn.execute(query)]


def latest_on_tables(db: Database, tables: Mapping[str, str]) -> list[CheckResultRecord]:
    """The newest result of each check on each of ``tables`` (physical table -> its model),
    newest first: one query for them all, through the (model, id) index."""
    found: list[CheckResultRecord] = []
    names = sorted(tables)
    with db.read() as conn:
        for start in range(0, len(names), TABLES_PER_QUERY):
            chunk = names[start : start + TABLES_PER_QUERY]
            newest = (
                select(func.max(check_results.c.id))
                .where(
                    check_results.c.model.in_(sorted({tables[t] for t in chunk})),
                    check_results.c.physical_table.in_(chunk),
                )
                .group_by(check_results.c.check_name, check_results.c.physical_table)
            )
            query = select(check_results).where(check_results.c.id.in_(newest))
            found += [_check_result(row) for row in conn.execute(query)]
    return sorted(found, key=lambda r: r.id or 0, reverse=True)


def latest_check_result(db: Database, check_name: str) -> CheckResultRecord | None:
    query = (
        select(check_results)
        .where(check_results.c.check_name == check_name)
        .order_by(check_results.c.id.desc())
        .limit(1)
    )
    with db.read() as conn:
        row = conn.execute(query).first()
    return None if row is None else _check_result(row)


def _check_result(row: Row[Any]) -> CheckResultRecord:
    values = dict(row._mapping)
    values["sample"] = values["sample"] or []
    return CheckResultRecord(**values)


# profiles


def save_profile(
    db: Database, model: str, physical_table: str, profile: Mapping[str, Any], rows: int
) -> int:
    values = {
        "model": model,
        "physical_table": physical_table,
        "created_at": now(),
        "profile": json_safe(dict(profile)),
        "rows": rows,
    }
    with db.write("saving a profile") as conn:
        key = conn.execute(insert(profiles).values(values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def latest_profile(db: Database, model: str) -> dict[str, Any] | None:
    query = select(profiles).where(profiles.c.model == model).order_by(profiles.c.id.desc())
    with db.read() as conn:
        row = conn.execute(query.limit(1)).first()
    if row is None:
        return None
    saved: dict[str, Any] = dict(row.profile or {})
    saved.update(
        id=row.id, physical_table=row.physical_table, created_at=row.created_at, rows=row.rows
    )
    return saved


# metrics


def record_metrics(
    db: Database,
    run_id: int | None,
    model: str,
    physical_table: str | None,
    metrics: Mapping[str, float],
) -> None:
    """Append one value per metric; a NaN or infinite value is skipped (it cannot be charted)."""
    record_many_metrics(db, [(run_id, model, physical_table, metrics)])


def record_many_metrics(
    db: Database,
    batches: Sequence[tuple[int | None, str, str | None, Mapping[str, float]]],
) -> None:
    """Several models' metrics in one transaction (a run records every model's at once)."""
    stamp = now()
    rows = [
        {
            "run_id": run_id,
            "model": model,
            "physical_table": physical_table,
            "metric": name,
            "value": float(value),
            "created_at": stamp,
        }
        for run_id, model, physical_table, metrics in batches
        for name, value in metrics.items()
        if value is not None and math.isfinite(float(value))
    ]
    if not rows:
        return
    with db.write("recording metrics") as conn:
        conn.execute(insert(model_metrics), rows)


def metric_history(
    db: Database, model: str, metric: str, limit: int
) -> list[tuple[int, datetime, float]]:
    """The newest ``limit`` values, returned oldest first: (run id or 0, time, value)."""
    query = (
        select(model_metrics.c.run_id, model_metrics.c.created_at, model_metrics.c.value)
        .where(model_metrics.c.model == model, model_metrics.c.metric == metric)
        .order_by(model_metrics.c.id.desc())
        .limit(limit)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [(int(run or 0), created, float(value)) for run, created, value in reversed(rows)]


def latest_metric(db: Database, model: str, metric: str) -> float | None:
    history = metric_history(db, model, metric, 1)
    return history[0][2] if history else None


def latest_metrics(db: Database, models: list[str], metric: str) -> dict[str, float]:
    """:func:`latest_metric` of several models in one query (those with none left out)."""
    if not models:
        return {}
    newest = (
        select(func.max(model_metrics.c.id))
        .where(model_metrics.c.model.in_(models), model_metrics.c.metric == metric)
        .group_by(model_metrics.c.model)
    )
    query = select(model_metrics.c.model, model_metrics.c.value).where(
        model_metrics.c.id.in_(newest.scalar_subquery())
    )
    with db.read() as conn:
        return {str(model): float(value) for model, value in conn.execute(query).all()}


def json_safe(value: Any) -> Any:
    """``value`` as JSON can hold it: times as ISO text, bytes as base64, other objects as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)
