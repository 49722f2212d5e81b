"""Schedules: the slots each schedule has queued or started, and which schedules are paused.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_slots",
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("schedule", "slot_at", name="pk_schedule_slots"),
    )
    op.create_table(
        "schedule_pauses",
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("paused_by", sa.String(200)),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("schedule", name="pk_schedule_pauses"),
    )


def downgrade() -> None:
    op.drop_table("schedule_pauses")
    op.drop_table("schedule_slots")
