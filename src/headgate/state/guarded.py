"""Store queries for secrets (ciphertext only) and the audit log (append and read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from headgate.state.database import Database
from headgate.state.sqltypes import now
from headgate.state.tables import audit_log, secrets


@dataclass
class StoredSecret:
    environment: str
    name: str
    ciphertext: str
    updated_by: str | None
    updated_at: datetime


@dataclass
class AuditEntry:
    id: int
    at: datetime
    actor: str | None
    address: str | None
    action: str
    environment: str | None
    target: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def put_secret(db: Database, environment: str, name: str, ciphertext: str, by: str | None) -> None:
    row = {
        "environment": environment,
        "name": name,
        "ciphertext": ciphertext,
        "updated_by": by,
        "updated_at": now(),
    }
    with db.write("storing a secret") as conn:
        db.upsert(conn, secrets, ("environment", "name"), [row])


def stored_secrets(db: Database) -> list[StoredSecret]:
    with db.read() as conn:
        rows = conn.execute(select(secrets).order_by(secrets.c.name, secrets.c.environment)).all()
    return [StoredSecret(**dict(row._mapping)) for row in rows]


def delete_secret(db: Database, environment: str, name: str) -> bool:
    with db.write("deleting a secret") as conn:
        done = conn.execute(
            delete(secrets).where(secrets.c.environment == environment, secrets.c.name == name)
        )
    return bool(done.rowcount)


def append_audit(db: Database, entry: dict[str, Any], chain: Any) -> AuditEntry:
    """Append one entry whose hash ``chain(previous hash, entry)`` covers the previous one.

    The last hash is read and the entry written in one write transaction, so two
    processes appending at once still make one chain.
    """
    with db.write("writing the audit log") as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7061447535)")  # one appender
        last = conn.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1))
        previous = last.scalar() or ""
        row = {**entry, "at": entry.get("at") or now(), "prev_hash": previous}
        row["hash"] = chain(previous, row)
        inserted = conn.execute(insert(audit_log).values(**row).returning(audit_log.c.id))
        row["id"] = int(inserted.scalar_one())
    return AuditEntry(**row)


def audit_entries(
    db: Database,
    *,
    actor: str | None = None,
    environment: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    query = select(audit_log).order_by(audit_log.c.id)
    for column, value in (
        (audit_log.c.actor, actor),
        (audit_log.c.environment, environment),
        (audit_log.c.action, action),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if limit is not None:
        query = query.order_by(None).order_by(audit_log.c.id.desc()).limit(limit)
    with db.read() as conn:
        rows = [AuditEntry(**dict(row._mapping)) for row in conn.execute(query).all()]
    return sorted(rows, key=lambda e: e.id)
