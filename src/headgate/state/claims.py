"""Taking tasks from the queue: the oldest queued tasks an agent's labels cover, leased.

A claim reads candidates (queued, oldest first, labels covered, in environments the
agent's token may work in) and leases them. On PostgreSQL each lease is one statement
that locks the row ``FOR UPDATE SKIP LOCKED`` and checks it is still queued: agents
polling at once never wait on each other, and a claim needs no transaction of its own.
On SQLite the store's one writer serializes claims. :func:`claim_many` leases several
at once (an agent that keeps a few tasks in hand), :func:`peek` and :func:`take` read a
task ahead and lease it later.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Text, cast, select, update
from sqlalchemy.exc import SQLAlchemyError

from headgate.state.database import Database
from headgate.state.queue import Lease
from headgate.state.quickread import quick_read
from headgate.state.sqltypes import now
from headgate.state.tables import runs, task_queue

CANDIDATES = 64  # ready rows offered to the lock per claim
SCANNED = 20_000  # queued rows read per claim at most, oldest first
PAGE = 2 * CANDIDATES  # queued rows read at a time
MOST = 256  # tasks leased by one claim at most


def claim(
    db: Database,
    agent: str,
    labels: dict[str, str],
    lease: timedelta,
    *,
    may_work_in: Callable[[str], bool] | None = None,
) -> Lease | None:
    """The oldest queued task this agent's labels cover, leased to it; None when there is none.

    Queued tasks are ready (their upstream tasks are done). On PostgreSQL rows another
    agent is taking are skipped (``SKIP LOCKED``) rather than waited for. ``may_work_in``:
    only tasks of runs in environments it allows (what the agent's token may work in).
    """
    if isinstance(db, Database) and db.dialect == "postgresql":
        with _statements(db, "claiming a task") as conn:
            fitting = _fitting_ids(conn, labels, may_work_in)
            if not fitting:
                return None
            return _take_one(conn, fitting, agent, now() + lease)
    with db.write("claiming a task") as conn:
        fitting = _fitting_ids(conn, labels, may_work_in)
        return _take_in(conn, fitting, agent, lease) if fitting else None


def claim_many(
    db: Database,
    agent: str,
    labels: dict[str, str],
    lease: timedelta,
    wanted: int,
    *,
    may_work_in: Callable[[str], bool] | None = None,
) -> list[Lease]:
    """Up to ``wanted`` of the oldest queued tasks this agent's labels cover, leased to it
    (oldest first; none: an empty list). On PostgreSQL they are leased in one statement,
    rows other agents are taking skipped."""
    wanted = max(0, min(wanted, MOST))
    if wanted == 0:
        return []
    if isinstance(db, Database) and db.dialect == "postgresql":
        with _statements(db, "claiming tasks") as conn:
            fitting = _fitting_ids(conn, labels, may_work_in, wanted=wanted + CANDIDATES)
            return _take_many(conn, fitting, agent, now() + lease, wanted) if fitting else []
    taken: list[Lease] = []
    with db.write("claiming tasks") as conn:
        fitting = _fitting_ids(conn, labels, may_work_in, wanted=wanted + CANDIDATES)
        while fitting and len(taken) < wanted:
            one = _take_in(conn, fitting, agent, lease)
            if one is None:
                break
            taken.append(one)
            fitting = [task_id for task_id in fitting if task_id != one.id]
    return taken


def _take_many(
    conn: Connection, fitting: list[int], agent: str, until: datetime, wanted: int
) -> list[Lease]:
    """On PostgreSQL: the first ``wanted`` of ``fitting`` that no one else is taking,
    leased in one statement. They are picked in a CTE (``WITH picked AS (SELECT ...
    LIMIT n FOR UPDATE SKIP LOCKED) UPDATE ... FROM picked``): locking, it is read once,
    where ``id IN (SELECT ... LIMIT n ...)`` may be read again per row and lease more."""
    picked = (
        select(task_queue.c.id)
        .where(task_queue.c.id.in_(fitting), task_queue.c.state == "queued")
        .order_by(task_queue.c.id)
        .limit(wanted)
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    rows = conn.execute(
        update(task_queue)
        .where(task_queue.c.id == picked.c.id, task_queue.c.state == "queued")
        .values(
            state="leased",
            agent=agent,
            fence=task_queue.c.fence + 1,
            lease_until=until,
            attempts=task_queue.c.attempts + 1,
        )
        .returning(
            task_queue.c.id,
            task_queue.c.run_id,
            task_queue.c.task,
            task_queue.c.fence,
            task_queue.c.attempts,
        )
    ).all()
    taken = [
        Lease(int(r.id), int(r.run_id), str(r.task), int(r.fence), until, int(r.attempts))
        for r in rows
    ]
    return sorted(taken, key=lambda held: held.id)


@dataclass(frozen=True)
class Queued:
    id: int
    run_id: int
    task: str


def peek(
    db: Database,
    labels: dict[str, str],
    *,
    may_work_in: Callable[[str], bool] | None = None,
    passing: frozenset[int] = frozenset(),
) -> Queued | None:
    """The task :func:`claim` would take now, left in the queue (``passing``: tasks
    passed over, read ahead for other agents already)."""
    with quick_read(db) as conn:
        fitting = _fitting_ids(conn, labels, may_work_in, wanted=1 + len(passing))
        fitting = [task_id for task_id in fitting if task_id not in passing]
        if not fitting:
            return None
        row = conn.execute(
            select(task_queue.c.id, task_queue.c.run_id, task_queue.c.task).where(
                task_queue.c.id == fitting[0]
            )
        ).first()
    return None if row is None else Queued(int(row.id), int(row.run_id), str(row.task))


def take(db: Database, task_id: int, agent: str, lease: timedelta) -> Lease | None:
    """Lease the task ``task_id`` to ``agent`` if it is still queued (None: it is not)."""
    if isinstance(db, Database) and db.dialect == "postgresql":
        with _statements(db, "claiming a task") as conn:
            return _take_one(conn, [task_id], agent, now() + lease)
    with db.write("claiming a task") as conn:
        return _take_in(conn, [task_id], agent, lease)


def _take_in(conn: Connection, fitting: list[int], agent: str, lease: timedelta) -> Lease | None:
    """The first of ``fitting`` still queued, leased (in the caller's transaction)."""
    row = conn.execute(_first_of(fitting)).mappings().first()
    if row is None:
        return None
    until = now() + lease
    fence = int(row["fence"]) + 1
    taken = conn.execute(
        update(task_queue)
        .where(task_queue.c.id == row["id"], task_queue.c.state == "queued")
        .values(
            state="leased",
            agent=agent,
            fence=fence,
            lease_until=until,
            attempts=task_queue.c.attempts + 1,
        )
    )
    if not taken.rowcount:
        return None
    attempt = int(row["attempts"]) + 1
    return Lease(int(row["id"]), int(row["run_id"]), row["task"], fence, until, attempt)


def _first_of(fitting: list[int]) -> Any:
    return (
        select(task_queue)
        .where(task_queue.c.id.in_(fitting[:CANDIDATES]), task_queue.c.state == "queued")
        .order_by(task_queue.c.id)
        .limit(1)
    )


@contextmanager
def _statements(db: Database, action: str) -> Iterator[Connection]:
    """On PostgreSQL, a connection whose every statement is a transaction of its own (no
    BEGIN and COMMIT around them: two round trips fewer). A claim needs no more: what it
    reads only picks candidates, and it leases one in a single statement that locks the
    row and checks it is still queued."""
    try:
        with db.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
    except SQLAlchemyError as exc:
        raise db.failure(action, exc) from exc


def _take_one(conn: Connection, fitting: list[int], agent: str, until: datetime) -> Lease | None:
    """On PostgreSQL: the first of ``fitting`` that no one else is taking, leased in one
    statement (``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)``)."""
    taken = _take_many(conn, fitting[:CANDIDATES], agent, until, 1)
    return taken[0] if taken else None


def _fitting_ids(
    conn: Connection,
    labels: dict[str, str],
    may_work_in: Callable[[str], bool] | None,
    *,
    wanted: int = CANDIDATES,
) -> list[int]:
    """Queued tasks, oldest first, that this agent's labels cover (in environments it may
    work in): up to ``wanted``, read a page at a time (a claim does not read every queued
    task when the first ones fit). A task's labels are read as text and parsed only when
    it asks for some (most ask for none)."""
    query = select(task_queue.c.id, cast(task_queue.c.labels, Text).label("labels")).where(
        task_queue.c.state == "queued"
    )
    if may_work_in is not None:
        query = query.add_columns(runs.c.environment).join(runs, runs.c.id == task_queue.c.run_id)
        may_work_in = functools.cache(may_work_in)  # asked once per environment, not per row
    size = min(PAGE, 2 * wanted)
    fitting: list[int] = []
    after, scanned = 0, 0
    while len(fitting) < wanted and scanned < SCANNED:
        page = conn.execute(
            query.where(task_queue.c.id > after).order_by(task_queue.c.id).limit(size)
        ).all()
        fitting += [
            int(row.id)
            for row in page
            if _covers_text(labels, row.labels)
            and (may_work_in is None or may_work_in(row.environment))
        ]
        if len(page) < size:
            break
        after, scanned = int(page[-1].id), scanned + len(page)
    return fitting[:wanted]


def _covers_text(agent: dict[str, str], wanted: str | None) -> bool:
    """:func:`_covers` for labels kept as JSON text ("{}" and null ask for nothing)."""
    text = (wanted or "").strip()
    if text in ("", "{}", "null"):
        return True
    return _covers(agent, json.loads(text))


def _covers(agent: dict[str, str], wanted: dict[str, Any]) -> bool:
    return all(agent.get(key) == str(value) for key, value in (wanted or {}).items())
