"""Versions and two-step publishes.

A physical view over immutable segments records which segments it reads; a deployment
is recorded as pending before the warehouse swaps the views and completed after.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    # ALTER TABLE does not follow schema_translate_map: name the store's schema explicitly
    schema = context.config.attributes.get("schema")
    return schema if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("physical_tables", sa.Column("segments", json), schema=_schema())
    op.add_column("deployments", sa.Column("state", sa.String(10)), schema=_schema())


def downgrade() -> None:
    with op.batch_alter_table("physical_tables", schema=_schema()) as batch:
        batch.drop_column("segments")
    with op.batch_alter_table("deployments", schema=_schema()) as batch:
        batch.drop_column("state")
