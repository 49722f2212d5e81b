"""The metadata store: runs, tasks, physical tables, environments, intervals, locks, checks.

SQLAlchemy 2 Core with Alembic migrations; SQLite at ``.headgate/state.db`` by default,
PostgreSQL when ``HEADGATE_STATE_URL`` says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headgate.state.records import (
    CheckResultRecord,
    EnvironmentRecord,
    EnvModel,
    Interval,
    PhysicalRecord,
    RunRecord,
    TaskRecord,
)

if TYPE_CHECKING:
    from headgate.state.locks import Lock, LockHolder
    from headgate.state.sqltypes import now
    from headgate.state.store import StateStore

__all__ = [
    "CheckResultRecord",
    "EnvModel",
    "EnvironmentRecord",
    "Interval",
    "Lock",
    "LockHolder",
    "PhysicalRecord",
    "RunRecord",
    "StateStore",
    "TaskRecord",
    "now",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use so importing the records does not pay for SQLAlchemy.
    if name in ("StateStore", "Lock", "LockHolder", "now"):
        from headgate.state import store

        return getattr(store, name)
    raise AttributeError(name)
