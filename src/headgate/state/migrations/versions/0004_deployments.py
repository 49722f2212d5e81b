"""Deployments: every change to what an environment publishes, with its full pointer set.

Keeping the whole set (not a diff) makes a rollback one lookup and lets the janitor
keep every table a recent deployment could return to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-20
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("from_environment", sa.String(200)),
        sa.Column("username", sa.String(200)),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("run_id", sa.Integer()),
        sa.Column("rolled_back_to", sa.Integer()),
        sa.Column("pointers", _json(), nullable=False),
        sa.Column("plan", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
    )
    op.create_index("ix_deployments_environment_id", "deployments", ["environment", "id"])
    op.create_index("ix_deployments_created_at", "deployments", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_deployments_created_at", table_name="deployments")
    op.drop_index("ix_deployments_environment_id", table_name="deployments")
    op.drop_table("deployments")
