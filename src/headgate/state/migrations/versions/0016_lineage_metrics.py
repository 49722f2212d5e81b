"""OpenLineage runs and datasets received by the hub, and monitors' chart settings.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from headgate.state.altering import json_column_type

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 400


def upgrade() -> None:
    op.create_table(
        "lineage_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(10), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_namespace", sa.String(NAME), nullable=False),
        sa.Column("job_name", sa.String(NAME), nullable=False),
        sa.Column("producer", sa.Text()),
        sa.Column("event", json_column_type(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_events"),
    )
    op.create_index("ix_lineage_events_run_id", "lineage_events", ["run_id"])
    op.create_index("ix_lineage_events_event_time", "lineage_events", ["event_time"])
    op.create_table(
        "lineage_jobs",
        sa.Column("namespace", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("facets", json_column_type(), nullable=False),
        sa.Column("latest_run_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "name", name="pk_lineage_jobs"),
    )
    op.create_table(
        "lineage_datasets",
        sa.Column("namespace", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("facets", json_column_type(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("namespace", "name", name="pk_lineage_datasets"),
    )
    op.create_table(
        "lineage_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("job_namespace", sa.String(NAME), nullable=False),
        sa.Column("job_name", sa.String(NAME), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("nominal_start", sa.DateTime(timezone=True)),
        sa.Column("nominal_end", sa.DateTime(timezone=True)),
        sa.Column("parent_run_id", sa.String(64)),
        sa.Column("facets", json_column_type(), nullable=False),
        sa.Column("inputs", json_column_type(), nullable=False),
        sa.Column("outputs", json_column_type(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_lineage_runs"),
    )
    op.create_index(
        "ix_lineage_runs_job_namespace_job_name_created_at",
        "lineage_runs",
        ["job_namespace", "job_name", "created_at"],
    )
    op.create_table(
        "lineage_edges",
        sa.Column("job_namespace", sa.String(NAME), nullable=False),
        sa.Column("job_name", sa.String(NAME), nullable=False),
        sa.Column("dataset_namespace", sa.String(NAME), nullable=False),
        sa.Column("dataset_name", sa.String(NAME), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "job_namespace",
            "job_name",
            "dataset_namespace",
            "dataset_name",
            "direction",
            name="pk_lineage_edges",
        ),
    )
    op.create_index(
        "ix_lineage_edges_dataset_namespace_dataset_name",
        "lineage_edges",
        ["dataset_namespace", "dataset_name"],
    )
    op.create_table(
        "monitor_charts",
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("metric", sa.String(NAME), nullable=False),
        sa.Column("chart", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "metric", name="pk_monitor_charts"),
    )


def downgrade() -> None:
    op.drop_table("monitor_charts")
    op.drop_table("lineage_edges")
    op.drop_table("lineage_runs")
    op.drop_table("lineage_datasets")
    op.drop_table("lineage_jobs")
    op.drop_table("lineage_events")
