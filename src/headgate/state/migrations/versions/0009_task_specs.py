"""Runs as data: each task's spec and attempts, and the run's plan, kept in the store.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from headgate.state.altering import json_column_type, store_schema

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = json_column_type()
    op.add_column("tasks", sa.Column("spec", json), schema=store_schema())
    op.add_column("tasks", sa.Column("attempts", sa.Integer()), schema=store_schema())
    op.add_column("runs", sa.Column("plan", json), schema=store_schema())


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=store_schema()) as batch:
        batch.drop_column("attempts")
        batch.drop_column("spec")
    with op.batch_alter_table("runs", schema=store_schema()) as batch:
        batch.drop_column("plan")
