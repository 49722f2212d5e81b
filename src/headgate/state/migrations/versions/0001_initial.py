"""The metadata store's first tables: runs, tasks, physical tables, environments, intervals, locks.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("command", sa.String(100), nullable=False),
        sa.Column("selection", sa.Text()),
        sa.Column("username", sa.String(200)),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer()),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("ended_at", _utc()),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_runs_environment_id", "runs", ["environment", "id"])
    op.create_index("ix_runs_status", "runs", ["status"])

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("physical_table", sa.String(400)),
        sa.Column("rows", sa.BigInteger()),
        sa.Column("started_at", _utc()),
        sa.Column("ended_at", _utc()),
        sa.Column("seconds", sa.Float()),
        sa.Column("error", sa.Text()),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_tasks_run_id_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_id", "name", name="uq_tasks_run_id_name"),
    )

    op.create_table(
        "physical_tables",
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("model", sa.String(400), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rows", sa.BigInteger()),
        sa.Column("data_version", sa.Integer(), nullable=False),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.PrimaryKeyConstraint("name", name="pk_physical_tables"),
    )

    op.create_table(
        "environments",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("from_environment", sa.String(200)),
        sa.Column("updated_at", _utc()),
        sa.PrimaryKeyConstraint("name", name="pk_environments"),
    )

    op.create_table(
        "env_models",
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("model", sa.String(400), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("physical_table", sa.String(400), nullable=False),
        sa.Column("published_at", _utc(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.PrimaryKeyConstraint("environment", "model", name="pk_env_models"),
        sa.ForeignKeyConstraint(
            ["environment"],
            ["environments.name"],
            name="fk_env_models_environment_environments",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_env_models_physical_table", "env_models", ["physical_table"])

    op.create_table(
        "intervals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("physical_table", sa.String(400), nullable=False),
        sa.Column("start_at", _utc(), nullable=False),
        sa.Column("end_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_intervals"),
    )
    op.create_index(
        "ix_intervals_physical_table_start_at", "intervals", ["physical_table", "start_at"]
    )

    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("acquired_at", _utc(), nullable=False),
        sa.Column("heartbeat_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_locks"),
    )


def downgrade() -> None:
    # Children before the tables their foreign keys point at.
    for name in ("locks", "intervals", "env_models", "environments", "physical_tables", "tasks"):
        op.drop_table(name)
    op.drop_table("runs")
