"""Bringing a metadata store's tables up to date.

Every CLI command opens the store, so the common case (already current) costs one small
query and no Alembic import. Alembic is loaded only when the store is new or behind; it
then runs inside one transaction that also serializes concurrent first opens.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, String, column, select, table, text
from sqlalchemy.exc import SQLAlchemyError

from headgate.errors import StateError
from headgate.state.database import Database

HEAD_REVISION = "0017"
"""The newest migration in ``migrations/versions``; a test keeps the two in step."""

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def current_revision(db: Database) -> str | None:
    """The store's revision, or None when it has no version table yet (a new store)."""
    version = table(VERSION_TABLE, column("version_num", String), schema=db.schema)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(select(version.c.version_num)).scalars().all()
    except SQLAlchemyError as exc:
        if _is_missing_table(exc):
            return None
        raise db.failure("opening", exc) from exc
    if len(rows) > 1:
        raise StateError(f"metadata store {db.display_url} has several revisions: {rows}")
    return rows[0] if rows else None


def _is_missing_table(exc: SQLAlchemyError) -> bool:
    # SQLite says "no such table"; PostgreSQL says "relation ... does not exist", also when
    # the schema itself is missing. Connection failures never say either.
    message = str(exc).lower()
    return "no such table" in message or ("relation" in message and "does not exist" in message)


def ensure_current(db: Database) -> bool:
    """Migrate the store to :data:`HEAD_REVISION` if needed; whether migrations ran."""
    if current_revision(db) == HEAD_REVISION:
        return False
    upgrade(db)
    return True


def upgrade(db: Database) -> None:
    """Run Alembic's upgrade to head in one transaction on the store's own connection."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["schema"] = db.schema
    try:
        with db.write("migrating") as conn:
            _prepare(db, conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except CommandError as exc:
        raise StateError(
            f"metadata store {db.display_url} cannot be migrated: {exc}",
            hint="it may have been written by a newer headgate; upgrade headgate",
        ) from exc


def _prepare(db: Database, conn: Connection) -> None:
    """Serialize concurrent migrations and create the PostgreSQL schema if it is missing."""
    db.serialize(conn, "headgate.state.migrate")
    if db.schema is None:
        return
    quoted = conn.dialect.identifier_preparer.quote_identifier(db.schema)
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
