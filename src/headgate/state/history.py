"""Deployment history: what each environment published, change after change."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select

from headgate.state.database import Database
from headgate.state.records import DeploymentRecord, ModelVersion
from headgate.state.sqltypes import now
from headgate.state.tables import deployments, loaded_files, model_versions, source_cursors


def record_deployment(db: Database, record: DeploymentRecord) -> int:
    row = asdict(record)
    row.pop("id")
    row["created_at"] = row["created_at"] or now()
    with db.write("recording a deployment") as conn:
        inserted = conn.execute(insert(deployments).values(**row).returning(deployments.c.id))
        return int(inserted.scalar_one())


def list_deployments(
    db: Database, *, environment: str | None, limit: int, since: datetime | None = None
) -> list[DeploymentRecord]:
    query = select(deployments).order_by(deployments.c.id.desc()).limit(limit)
    query = query.where(deployments.c.state.is_(None))  # what happened, not what may yet
    if environment is not None:
        query = query.where(deployments.c.environment == environment)
    if since is not None:
        query = query.where(deployments.c.created_at >= since)
    with db.read() as conn:
        return [_record(row) for row in conn.execute(query).all()]


def pending_deployments(db: Database) -> list[DeploymentRecord]:
    query = select(deployments).where(deployments.c.state == "pending").order_by(deployments.c.id)
    with db.read() as conn:
        return [_record(row) for row in conn.execute(query).all()]


def get_deployment(db: Database, deployment_id: int) -> DeploymentRecord | None:
    with db.read() as conn:
        row = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).first()
    return _record(row) if row is not None else None


def _record(row: Row[Any]) -> DeploymentRecord:
    values = dict(row._mapping)
    values["plan"] = values["plan"] or {}
    return DeploymentRecord(**values)


def record_model_versions(db: Database, records: list[ModelVersion]) -> None:
    if not records:
        return
    rows = []
    for record in {r.fingerprint: r for r in records}.values():
        row = asdict(record)
        row["created_at"] = row["created_at"] or now()
        rows.append(row)
    with db.write("recording model versions") as conn:
        db.upsert(conn, model_versions, ("fingerprint",), rows, keep=("created_at",))


def get_model_versions(db: Database, fingerprints: list[str]) -> dict[str, ModelVersion]:
    found: dict[str, ModelVersion] = {}
    unique = sorted(set(fingerprints))
    with db.read() as conn:
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = conn.execute(
                select(model_versions).where(model_versions.c.fingerprint.in_(chunk))
            )
            for row in rows:
                found[row.fingerprint] = ModelVersion(**dict(row._mapping))
    return found


def get_cursor(db: Database, physical_table: str) -> dict[str, Any] | None:
    with db.read() as conn:
        row = conn.execute(
            select(source_cursors.c.cursor).where(source_cursors.c.physical_table == physical_table)
        ).first()
    return dict(row[0]) if row is not None else None


def set_cursor(db: Database, physical_table: str, cursor: dict[str, Any]) -> None:
    with db.write("recording a source cursor") as conn:
        db.upsert(
            conn,
            source_cursors,
            ("physical_table",),
            [{"physical_table": physical_table, "cursor": cursor, "updated_at": now()}],
        )


def record_loaded_files(db: Database, physical_table: str, files: list[dict[str, Any]]) -> None:
    if not files:
        return
    stamp = now()
    rows = [{"physical_table": physical_table, "loaded_at": stamp, **f} for f in files]
    with db.write("recording loaded files") as conn:
        db.upsert(conn, loaded_files, ("physical_table", "content_hash"), rows)
