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
from alembic import op

from headgate.state.altering import json_column_type, store_schema

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = json_column_type()
    op.add_column("physical_tables", sa.Column("segments", json), schema=store_schema())
    op.add_column("deployments", sa.Column("state", sa.String(10)), schema=store_schema())


def downgrade() -> None:
    with op.batch_alter_table("physical_tables", schema=store_schema()) as batch:
        batch.drop_column("segments")
    with op.batch_alter_table("deployments", schema=store_schema()) as batch:
        batch.drop_column("state")
