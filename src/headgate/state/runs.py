"""Runs and their tasks: what headgate did, when, for whom, and how it ended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, case, func, insert, select, update

from headgate.errors import StateError
from headgate.state.database import Database
from headgate.state.locks import pid_alive, this_host
from headgate.state.records import RunRecord, TaskRecord
from headgate.state.sqltypes import now
from headgate.state.tables import runs, tasks

FOREIGN_RUN_TIMEOUT = timedelta(hours=24)
"""A run on another machine cannot be probed; after this long 'running' it is presumed dead."""


def start_run(
    db: Database,
    *,
    environment: str,
    command: str,
    selection: str | None,
    user: str | None,
    host: str | None,
    pid: int | None,
    git_commit: str | None,
    placement: dict[str, Any] | None = None,
) -> int:
    """Record a new run in status 'running' and return its id (``placement``: where a run
    for agents sends its tasks, kept to queue them again if they never were)."""
    values: dict[str, Any] = {
        "environment": environment,
        "command": command,
        "selection": selection,
        "username": user,
        "host": host,
        "pid": pid,
        "git_commit": git_commit,
        "status": "running",
        "published": False,
        "started_at": now(),
    }
    if placement is not None:  # else SQL NULL, not a JSON null
        values["placement"] = placement
    with db.write("starting a run") as conn:
        result = conn.execute(insert(runs).values(values))
        key = result.inserted_primary_key
    if key is None:
        raise StateError(f"metadata store {db.display_url} returned no id for the new run")
    return int(key[0])


def finish_run(db: Database, run_id: int, status: str, error: str | None, published: bool) -> None:
    with db.write("finishing a run") as conn:
        result = conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(status=status, error=error, published=published, ended_at=now())
        )
    if not result.rowcount:
        raise StateError(f"no run {run_id} in the metadata store")


def save_plan(db: Database, run_id: int, plan: dict[str, Any]) -> None:
    with db.write("saving a run's plan") as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(plan=plan))


def plan_of(db: Database, run_id: int) -> dict[str, Any] | None:
    with db.read() as conn:
        found = conn.execute(select(runs.c.plan).where(runs.c.id == run_id)).scalar()
    return dict(found) if found else None


def reopen_run(db: Database, run_id: int, *, host: str, pid: int) -> None:
    """A run carried on by another process (a resumed or handed-over run) is running again."""
    with db.write("resuming a run") as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(status="running", host=host, pid=pid, ended_at=None)
        )


def reopen_abandoned(db: Database, run_id: int, *, host: str, pid: int) -> bool:
    """Reopen the run if it is still abandoned; whether this call did (of two processes
    taking it on at once, one does)."""
    with db.write("resuming a run") as conn:
        result = conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.status == "abandoned")
            .values(status="running", host=host, pid=pid, ended_at=None, error=None)
        )
    return bool(result.rowcount)


def record_tasks(db: Database, records: Sequence[TaskRecord]) -> None:
    """Upsert tasks by (run, name) in one transaction: a resumed run overwrites, never duplicates.

    The list may hold tasks of several runs; a (run, name) pair listed twice keeps the last.
    A record without a spec keeps the spec stored (written once, when the run was submitted):
    a task's state changes do not serialise what it does again.
    """
    latest = {(record.run_id, record.name): record for record in records}
    with_spec, without_spec = [], []
    for record in latest.values():
        row = asdict(record)
        row["detail"] = row["detail"] or {}
        if row["spec"] is None:
            del row["spec"]
            without_spec.append(row)
        else:
            with_spec.append(row)
    with db.write("recording tasks") as conn:
        db.upsert(conn, tasks, ("run_id", "name"), with_spec)
        db.upsert(conn, tasks, ("run_id", "name"), without_spec)


def _record_columns() -> list[Any]:
    """The runs table's columns a :class:`RunRecord` holds: not the saved plan, which can
    be a large JSON document (a 1,000-task run's) that lists and pages do not show, nor
    a run for agents' placement."""
    return [c for c in runs.c if c.name not in ("plan", "placement")]


def list_runs(db: Database, limit: int, environment: str | None) -> list[RunRecord]:
    query = select(*_record_columns()).order_by(runs.c.id.desc()).limit(limit)
    if environment is not None:
        query = query.where(runs.c.environment == environment)
    with db.read() as conn:
        found = [_run(row) for row in conn.execute(query)]
        counts = _counts(conn, [run.id for run in found])
    for run in found:
        run.counts = counts.get(run.id, {})
    return found


def get_run(db: Database, run_id: int, *, specs: bool = True) -> RunRecord | None:
    """The run with its tasks in the order they started (tasks not yet started last).

    Without ``specs`` the tasks' specs are not read (a page of a run's 1,000 tasks does
    not show what each does: reading them would double its time).
    """
    names = [f.name for f in fields(TaskRecord) if specs or f.name != "spec"]
    columns = [tasks.c[name] for name in names]  # in the record's order: rows fill it by position
    with db.read() as conn:
        row = conn.execute(select(*_record_columns()).where(runs.c.id == run_id)).one_or_none()
        if row is None:
            return None
        not_started = case((tasks.c.started_at.is_(None), 1), else_=0)
        task_rows = conn.execute(
            select(*columns)
            .where(tasks.c.run_id == run_id)
            .order_by(not_started, tasks.c.started_at, tasks.c.id)
        )
        run = _run(row)
        run.tasks = [_task_in_order(task, specs) for task in task_rows]
    for task in run.tasks:
        run.counts[task.status] = run.counts.get(task.status, 0) + 1
    return run


def task_seconds(db: Database, name: str, run_ids: Sequence[int]) -> dict[int, float | None]:
    """How long the task ``name`` took in each of these runs (a run without it is absent)."""
    if not run_ids:
        return {}
    query = select(tasks.c.run_id, tasks.c.seconds).where(
        tasks.c.name == name, tasks.c.run_id.in_(sorted(set(run_ids)))
    )
    with db.read() as conn:
        return {run_id: seconds for run_id, seconds in conn.execute(query)}


def last_run_id(db: Database, environment: str | None) -> int | None:
    query = select(func.max(runs.c.id))
    if environment is not None:
        query = query.where(runs.c.environment == environment)
    with db.read() as conn:
        found = conn.execute(query).scalar()
    return int(found) if found is not None else None


def abandon_dead_runs(db: Database) -> list[int]:
    """Mark 'running' runs whose process is gone as 'abandoned'; their ids, oldest first."""
    host = this_host()
    cutoff = now() - FOREIGN_RUN_TIMEOUT
    with db.write("abandoning dead runs") as conn:
        rows = conn.execute(
            select(runs.c.id, runs.c.host, runs.c.pid, runs.c.started_at)
            .where(runs.c.status == "running")
            .order_by(runs.c.id)
        ).all()
        dead = [row.id for row in rows if _is_dead(row.host, row.pid, row.started_at, host, cutoff)]
        if dead:
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(dead), runs.c.status == "running")
                .values(status="abandoned", ended_at=now())
            )
    return dead


def _is_dead(
    run_host: str | None, pid: int | None, started_at: datetime, host: str, cutoff: datetime
) -> bool:
    """A run of this host is dead when its process is; elsewhere only age can tell."""
    if run_host == host and pid is not None:
        return not pid_alive(pid)
    return started_at < cutoff


def _counts(conn: Connection, run_ids: list[int]) -> dict[int, dict[str, int]]:
    if not run_ids:
        return {}
    query = (
        select(tasks.c.run_id, tasks.c.status, func.count())
        .where(tasks.c.run_id.in_(run_ids))
        .group_by(tasks.c.run_id, tasks.c.status)
    )
    counts: dict[int, dict[str, int]] = {}
    for run_id, status, number in conn.execute(query):
        counts.setdefault(run_id, {})[status] = int(number)
    return counts


def _run(row: Row[Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        environment=row.environment,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        command=row.command,
        selection=row.selection,
        user=row.username,
        host=row.host,
        pid=row.pid,
        git_commit=row.git_commit,
        error=row.error,
        published=bool(row.published),
    )


def _task(row: Row[Any]) -> TaskRecord:
    values = dict(row._mapping)
    del values["id"]
    values["detail"] = values["detail"] or {}
    return TaskRecord(**values)


_SPEC_AT = [f.name for f in fields(TaskRecord)].index("spec")


def _task_in_order(row: Row[Any], specs: bool) -> TaskRecord:
    """A task from a row of :func:`get_run`'s columns (TaskRecord's fields, in order)."""
    values: list[Any] = list(row)
    if not specs:
        values.insert(_SPEC_AT, None)
    task = TaskRecord(*values)
    task.detail = task.detail or {}
    return task
