"""A run for agents keeps where its tasks go, so one lost before they were queued can be
queued again.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from headgate.state.altering import json_column_type, store_schema

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("placement", json_column_type()), schema=store_schema())


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=store_schema()) as batch:
        batch.drop_column("placement")
