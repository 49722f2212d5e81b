"""Audit verdicts on physical tables (write-audit-publish).

A table whose checks failed is kept for inspection but must never be published;
remembering the verdict and the checks it was reached with lets a later run
re-audit only when the checks changed, without rebuilding.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from headgate.state.altering import store_schema

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "physical_tables", sa.Column("audit_status", sa.String(10)), schema=store_schema()
    )
    op.add_column("physical_tables", sa.Column("audit_hash", sa.String(64)), schema=store_schema())


def downgrade() -> None:
    with op.batch_alter_table("physical_tables", schema=store_schema()) as batch:
        batch.drop_column("audit_hash")
        batch.drop_column("audit_status")
