"""Model versions: the query and the columns behind each fingerprint.

A plan compares what an environment publishes with the project; keeping each
built version's SQL and schema lets it show a SQL diff, a schema diff and which
columns changed without rebuilding anything or checking out old commits. A version
whose data is provably the same as an older one's (a non-breaking upstream change)
names that older table in ``physical_table`` instead of being built again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-20
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("model", sa.String(400), nullable=False),
        sa.Column("query", sa.Text()),
        sa.Column("columns", _json(), nullable=False),
        sa.Column("physical_table", sa.String(400)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_model_versions"),
    )


def downgrade() -> None:
    op.drop_table("model_versions")
