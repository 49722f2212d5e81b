"""The task queue: a run's tasks leased to agents, each lease with a fencing token.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from headgate.state.altering import json_column_type

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_queue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(400), nullable=False),
        sa.Column("labels", json_column_type(), nullable=False),
        sa.Column("depends_on", json_column_type(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("agent", sa.String(200)),
        sa.Column("fence", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("cancel", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_queue"),
        sa.UniqueConstraint("run_id", "task", name="uq_task_queue_run_id_task"),
    )
    op.create_index("ix_task_queue_state_id", "task_queue", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_queue_state_id", table_name="task_queue")
    op.drop_table("task_queue")
