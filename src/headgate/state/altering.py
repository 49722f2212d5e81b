"""Helpers for migrations that alter existing tables (shared by the scripts in migrations/)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql


def store_schema() -> str | None:
    """The store's PostgreSQL schema: ALTER TABLE does not follow schema_translate_map."""
    schema = context.config.attributes.get("schema")
    return schema if op.get_bind().dialect.name == "postgresql" else None


def json_column_type() -> sa.types.TypeEngine[Any]:
    """JSON, stored as JSONB on PostgreSQL."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
