"""The recent tasks of named nodes (external steps), newest first, for their pages.

Read through the runs, never by scanning every task: the latest ``runs`` runs of an
environment are found by their id, and their tasks by ``(run_id, name)``, the tasks
table's unique key.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from headgate.state.database import Database
from headgate.state.records import TaskRecord
from headgate.state.runs import _task
from headgate.state.tables import runs, tasks

RECENT_RUNS = 200


def recent_tasks(
    db: Database, names: Collection[str], environment: str, *, runs_back: int = RECENT_RUNS
) -> list[TaskRecord]:
    """Tasks named in ``names`` among the environment's latest ``runs_back`` runs."""
    if not names:
        return []
    latest = (
        select(runs.c.id)
        .where(runs.c.environment == environment)
        .order_by(runs.c.id.desc())
        .limit(runs_back)
        .scalar_subquery()
    )
    columns = [c for c in tasks.c if c.name != "spec"]
    query = (
        select(*columns)
        .where(tasks.c.run_id.in_(latest), tasks.c.name.in_(sorted(names)))
        .order_by(tasks.c.run_id.desc(), tasks.c.name)
    )
    with db.read() as conn:
        return [_task(row) for row in conn.execute(query)]
