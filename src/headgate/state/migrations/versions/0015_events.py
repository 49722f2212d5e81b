"""Observability: journeys, components, events, expected schedules and alerts.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from headgate.state.altering import json_column_type

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = 400
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "components",
        sa.Column("key", sa.String(KEY), nullable=False),
        sa.Column("name", sa.String(KEY)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("tool", sa.String(200)),
        sa.Column("owner", sa.String(200)),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("status", sa.String(30)),
        sa.Column("status_at", TIME),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_components"),
    )
    op.create_table(
        "journeys",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_journeys"),
    )
    op.create_table(
        "journey_components",
        sa.Column("journey", sa.String(200), nullable=False),
        sa.Column("component", sa.String(KEY), nullable=False),
        sa.PrimaryKeyConstraint("journey", "component", name="pk_journey_components"),
    )
    op.create_index("ix_journey_components_component", "journey_components", ["component"])
    op.create_table(
        "journey_edges",
        sa.Column("journey", sa.String(200), nullable=False),
        sa.Column("upstream", sa.String(KEY), nullable=False),
        sa.Column("downstream", sa.String(KEY), nullable=False),
        sa.PrimaryKeyConstraint("journey", "upstream", "downstream", name="pk_journey_edges"),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("component", sa.String(KEY), nullable=False),
        sa.Column("run_key", sa.String(KEY)),
        sa.Column("task_key", sa.String(KEY)),
        sa.Column("event_at", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("body", json_column_type(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_component_seq", "events", ["component", "seq"])
    op.create_table(
        "component_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("component", sa.String(KEY), nullable=False),
        sa.Column("run_key", sa.String(KEY), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("started_at", TIME),
        sa.Column("ended_at", TIME),
        sa.Column("expected_start", TIME),
        sa.Column("expected_end", TIME),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_component_runs"),
        sa.UniqueConstraint("component", "run_key", name="uq_component_runs_component_run_key"),
    )
    op.create_index("ix_component_runs_component_id", "component_runs", ["component", "id"])
    op.create_table(
        "component_tasks",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("task_key", sa.String(KEY), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("started_at", TIME),
        sa.Column("ended_at", TIME),
        sa.PrimaryKeyConstraint("run_id", "task_key", name="pk_component_tasks"),
    )
    op.create_table(
        "journey_instances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("journey", sa.String(200), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("ended_at", TIME),
        sa.Column("runs", json_column_type(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journey_instances"),
    )
    op.create_index("ix_journey_instances_journey_id", "journey_instances", ["journey", "id"])
    op.create_table(
        "expected_slots",
        sa.Column("component", sa.String(KEY), nullable=False),
        sa.Column("expectation", sa.String(10), nullable=False),
        sa.Column("slot_at", TIME, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("component", "expectation", "slot_at", name="pk_expected_slots"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("component", sa.String(KEY), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("root_id", sa.Integer()),
        sa.Column("rule", sa.String(200)),
        sa.Column("run_key", sa.String(KEY)),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("last_at", TIME, nullable=False),
        sa.Column("resolved_at", TIME),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_component_status", "alerts", ["component", "status"])
    op.create_index("ix_alerts_status_id", "alerts", ["status", "id"])
    op.create_table(
        "alert_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("action", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("sender", sa.String(KEY), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME),
        sa.PrimaryKeyConstraint("id", name="pk_alert_notices"),
    )
    op.create_index("ix_alert_notices_state_id", "alert_notices", ["state", "id"])
    op.create_index("ix_alert_notices_sender_sent_at", "alert_notices", ["sender", "sent_at"])
    op.create_table(
        "rule_states",
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("component", sa.String(KEY), nullable=False),
        sa.Column("alert_id", sa.Integer()),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("conditions", json_column_type(), nullable=False),
        sa.Column("notified_at", TIME),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("rule", "component", name="pk_rule_states"),
    )
    op.create_table(
        "observe_cursors",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_observe_cursors"),
    )


def downgrade() -> None:
    for table in (
        "observe_cursors",
        "rule_states",
        "alert_notices",
        "alerts",
        "expected_slots",
        "journey_instances",
        "component_tasks",
        "component_runs",
        "events",
        "journey_edges",
        "journey_components",
        "journeys",
        "components",
    ):
        op.drop_table(table)
