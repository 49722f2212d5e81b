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
from alembic import context, op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    # ALTER TABLE does not follow schema_translate_map: name the store's schema explicitly
    schema = context.config.attributes.get("schema")
    return schema if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    op.add_column("physical_tables", sa.Column("audit_status", sa.String(10)), schema=_schema())
    op.add_column("physical_tables", sa.Column("audit_hash", sa.String(64)), schema=_schema())


def downgrade() -> None:
    with op.batch_alter_table("physical_tables", schema=_schema()) as batch:
        batch.drop_column("audit_hash")
        batch.drop_column("audit_status")
