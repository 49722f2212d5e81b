"""Check results, profiles and per-run model metrics.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-15
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "check_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("model", sa.String(400), nullable=False),
        sa.Column("check_name", sa.String(400), nullable=False),
        sa.Column("check_type", sa.String(50), nullable=False),
        sa.Column("column", sa.String(400)),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("failing_rows", sa.BigInteger()),
        sa.Column("total_rows", sa.BigInteger()),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sample", _json(), nullable=False),
        sa.Column("sql", sa.Text()),
        sa.Column("physical_table", sa.String(400)),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_check_results"),
    )
    op.create_index("ix_check_results_run_id", "check_results", ["run_id"])
    op.create_index("ix_check_results_model_id", "check_results", ["model", "id"])
    op.create_index("ix_check_results_check_name_id", "check_results", ["check_name", "id"])

    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(400), nullable=False),
        sa.Column("physical_table", sa.String(400), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("profile", _json(), nullable=False),
        sa.Column("rows", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_profiles"),
    )
    op.create_index("ix_profiles_model_id", "profiles", ["model", "id"])

    op.create_table(
        "model_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("model", sa.String(400), nullable=False),
        sa.Column("physical_table", sa.String(400)),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_metrics"),
    )
    op.create_index("ix_model_metrics_model_metric_id", "model_metrics", ["model", "metric", "id"])


def downgrade() -> None:
    for name in ("model_metrics", "profiles", "check_results"):
        op.drop_table(name)
