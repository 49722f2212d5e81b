"""Deployment history: what each environment published, change after change."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select

from headgate.state.database import Database
from headgate.state.records import DeploymentRecord
from headgate.state.sqltypes import now
from headgate.state.tables import deployments


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
    if environment is not None:
        query = query.where(deployments.c.environment == environment)
    if since is not None:
        query = query.where(deployments.c.created_at >= since)
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
