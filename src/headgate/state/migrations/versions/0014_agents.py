"""Agents registered with the hub, and the output kept from tasks and external steps.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from headgate.state.altering import json_column_type

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("labels", json_column_type(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(100)),
        sa.Column("host", sa.String(255)),
        sa.Column("every_seconds", sa.Float(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_agents"),
    )
    op.create_table(
        "task_output",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(400), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_output"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_task_output_run_id_task_id", "task_output", ["run_id", "task", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_output_run_id_task_id", table_name="task_output")
    op.drop_table("task_output")
    op.drop_table("agents")
