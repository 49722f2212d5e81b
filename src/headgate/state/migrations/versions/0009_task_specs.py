"""Runs as data: each task's spec and attempts, and the run's plan, kept in the store.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    # ALTER TABLE does not follow schema_translate_map: name the store's schema explicitly
    schema = context.config.attributes.get("schema")
    return schema if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("tasks", sa.Column("spec", json), schema=_schema())
    op.add_column("tasks", sa.Column("attempts", sa.Integer()), schema=_schema())
    op.add_column("runs", sa.Column("plan", json), schema=_schema())


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=_schema()) as batch:
        batch.drop_column("attempts")
        batch.drop_column("spec")
    with op.batch_alter_table("runs", schema=_schema()) as batch:
        batch.drop_column("plan")
