"""The task queue: a run's tasks leased to agents, one lease at a time, each fenced.

A task *waits* until the tasks it depends on are done, then is *queued* (the result that
finishes its last upstream task moves it, in the same transaction) until an agent whose
labels cover the task's takes it. Taking it is a *lease*: the row gets the agent, a lease end and a
new fencing token (``fence``, one more than before). The agent extends the lease with
heartbeats and reports its result with the token; a result whose token is not the
current one (the lease expired and the task went to another agent) is refused, so a task
is never applied twice. On PostgreSQL candidates are read ``FOR UPDATE SKIP LOCKED``, so
agents polling at once never wait on each other; on SQLite the store's one writer
serializes the claims.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Text, cast, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from headgate.errors import HeadgateError
from headgate.state.database import Database
from headgate.state.quickread import quick_read
from headgate.state.sqltypes import now
from headgate.state.tables import task_queue

FINISHED = ("done", "failed", "cancelled")  # a task in one of these never changes again


@dataclass(frozen=True)
class Lease:
    id: int
    run_id: int
    task: str
    fence: int
    lease_until: datetime
    attempt: int


def enqueue(
    db: Database,
    run_id: int,
    tasks: list[tuple[str, dict[str, str], list[str]]],
    *,
    max_attempts: int = 3,
) -> None:
    """Queue a run's tasks: (name, labels an agent must carry, tasks done before it)."""
    stamp = now()
    rows = [
        {
            "run_id": run_id,
            "task": name,
            "labels": labels,
            "depends_on": depends_on,
            "state": "waiting" if depends_on else "queued",
            "fence": 0,
            "attempts": 0,
            "max_attempts": max_attempts,
            "cancel": False,
            "created_at": stamp,
        }
        for name, labels, depends_on in tasks
    ]
    with db.write("queueing tasks") as conn:
        if rows:  # in one batch; a task queued before (a resumed run) is kept as it is
            batch: Any = db.insert(task_queue)
            conn.execute(batch.on_conflict_do_nothing(), rows)
        _promote(conn, run_id)  # upstream tasks a previous attempt finished count


def heartbeat(db: Database, lease_id: int, fence: int, lease: timedelta) -> tuple[bool, bool]:
    """Extend a lease; (still held, cancel asked). Not held: stop, the result will be refused."""
    with db.write("extending a lease") as conn:
        held = conn.execute(
            update(task_queue)
            .where(
                task_queue.c.id == lease_id,
                task_queue.c.fence == fence,
                task_queue.c.state == "leased",
            )
            .values(lease_until=now() + lease)
        ).rowcount
        cancel = conn.execute(
            select(task_queue.c.cancel).where(task_queue.c.id == lease_id)
        ).scalar()
    return bool(held), bool(cancel)


def complete(
    db: Database,
    lease_id: int,
    fence: int,
    *,
    ok: bool,
    error: str | None = None,
    output: list[str] | None = None,
    source: str | None = None,
) -> bool:
    """Record a leased task's result if its token is still current; False: refused (stale).

    ``output``: the task's last lines, kept with it in the same transaction (a refused
    result keeps none)."""
    with db.write("completing a task") as conn:
        return complete_in(conn, lease_id, fence, ok=ok, error=error, output=output, source=source)


def complete_in(
    conn: Connection,
    lease_id: int,
    fence: int,
    *,
    ok: bool,
    error: str | None = None,
    output: list[str] | None = None,
    source: str | None = None,
) -> bool:
    """:func:`complete` in the caller's transaction (with the task's writes)."""
    ended = end_in(conn, lease_id, fence, ok=ok, error=error, output=output, source=source)
    return ended is not None


@dataclass(frozen=True)
class Held:
    id: int
    run_id: int
    task: str
    attempt: int


def hold(conn: Connection, lease_id: int, fence: int, lease: timedelta) -> Held | None:
    """Extend a lease whose token is current, in the caller's transaction (its row locked
    until the transaction ends: it cannot expire meanwhile); None when it is not held."""
    row = conn.execute(
        update(task_queue)
        .where(
            task_queue.c.id == lease_id,
            task_queue.c.fence == fence,
            task_queue.c.state == "leased",
        )
        .values(lease_until=now() + lease)
        .returning(task_queue.c.run_id, task_queue.c.task, task_queue.c.attempts)
    ).first()
    if row is None:
        return None
    return Held(lease_id, int(row.run_id), str(row.task), int(row.attempts))


@dataclass(frozen=True)
class Ended(Held):
    """A leased task whose result was just recorded: how it ended."""

    state: str = "done"


def end_in(
    conn: Connection,
    lease_id: int,
    fence: int,
    *,
    ok: bool,
    error: str | None = None,
    output: list[str] | None = None,
    source: str | None = None,
) -> Ended | None:
    """:func:`complete_in`, saying which task of which run ended and how (None: the
    token is not current, nothing recorded)."""
    ended = end_lease_in(conn, lease_id, fence, ok=ok, error=error)
    if ended is not None:
        after_end_in(conn, ended, output=output, source=source)
    return ended


def end_lease_in(
    conn: Connection, lease_id: int, fence: int, *, ok: bool, error: str | None = None
) -> Ended | None:
    """The result's first half: the lease ends (its row locked until the transaction
    ends) if its token is current; None when it is not. :func:`after_end_in` follows."""
    state = "done" if ok else "failed"
    row = conn.execute(
        update(task_queue)
        .where(
            task_queue.c.id == lease_id,
            task_queue.c.fence == fence,
            task_queue.c.state == "leased",
        )
        .values(state=state, error=error, lease_until=None)
        .returning(task_queue.c.run_id, task_queue.c.task, task_queue.c.attempts)
    ).first()
    if row is None:
        return None
    return Ended(lease_id, int(row.run_id), str(row.task), int(row.attempts), state)


def after_end_in(
    conn: Connection,
    ended: Ended,
    *,
    output: list[str] | None = None,
    source: str | None = None,
    promote: bool = True,
) -> None:
    """The result's second half: the tasks waiting for it are queued (unless ``promote``
    is false: :func:`promote_finished` does it for several results), its last lines kept
    (one statement)."""
    if ended.state == "done" and promote:
        _promote(conn, ended.run_id, finished=[ended.task])
    if output:
        from headgate.state.queue_batches import keep_output_in

        keep_output_in(conn, [(ended, output)], source)


def promote_finished(conn: Connection, ended: list[Ended]) -> None:
    """The tasks waiting for any of ``ended`` (those done) queued, one look per run."""
    by_run: dict[int, list[str]] = {}
    for task in ended:
        if task.state == "done":
            by_run.setdefault(task.run_id, []).append(task.task)
    for run_id in sorted(by_run):
        _promote(conn, run_id, finished=by_run[run_id])


def release(db: Database, lease_id: int, fence: int) -> bool:
    """A leased task given back before it began: queued again, its attempt not counted."""
    with db.write("releasing a task") as conn:
        released = conn.execute(
            update(task_queue)
            .where(
                task_queue.c.id == lease_id,
                task_queue.c.fence == fence,
                task_queue.c.state == "leased",
            )
            .values(
                state="queued", agent=None, lease_until=None, attempts=task_queue.c.attempts - 1
            )
        ).rowcount
    return bool(released)


def expire(db: Database) -> list[int]:
    """Leases past their end go back to the queue (or fail, out of attempts; a cancelled
    run's are cancelled); their ids."""
    with db.write("expiring leases") as conn:
        rows = conn.execute(
            select(
                task_queue.c.id,
                task_queue.c.attempts,
                task_queue.c.max_attempts,
                task_queue.c.cancel,
            ).where(task_queue.c.state == "leased", task_queue.c.lease_until < now())
        ).all()
        for row in rows:
            spent = row.attempts >= row.max_attempts
            state = "cancelled" if row.cancel else "failed" if spent else "queued"
            conn.execute(
                update(task_queue)
                .where(task_queue.c.id == row.id, task_queue.c.state == "leased")
                .values(
                    state=state,
                    agent=None,
                    lease_until=None,
                    error=f"lease expired after {row.attempts} attempt(s)" if spent else None,
                )
            )
    return [row.id for row in rows]


def cancel(db: Database, run_id: int) -> None:
    """Queued tasks of the run are cancelled; leased ones hear it at their next heartbeat."""
    with db.write("cancelling a run's tasks") as conn:
        conn.execute(
            update(task_queue)
            .where(task_queue.c.run_id == run_id, task_queue.c.state.in_(("queued", "waiting")))
            .values(state="cancelled")
        )
        conn.execute(
            update(task_queue)
            .where(task_queue.c.run_id == run_id, task_queue.c.state == "leased")
            .values(cancel=True)
        )


def has_queued(db: Database) -> bool:
    """Whether any task waits in the queue (a cheap read before trying to claim)."""
    with db.read() as conn:
        found = conn.execute(
            select(task_queue.c.id).where(task_queue.c.state == "queued").limit(1)
        ).first()
    return found is not None


def states(db: Database, run_id: int) -> dict[str, str]:
    with db.read() as conn:
        rows = conn.execute(
            select(task_queue.c.task, task_queue.c.state).where(task_queue.c.run_id == run_id)
        ).all()
    return {row.task: row.state for row in rows}


def finished_count(db: Database, run_id: int) -> int:
    """How many of the run's tasks have ended (done, failed or cancelled): a cheap look
    at whether anything changed, before reading every task's state."""
    from sqlalchemy import func

    query = select(func.count()).where(
        task_queue.c.run_id == run_id, task_queue.c.state.in_(FINISHED)
    )
    with quick_read(db) as conn:
        return int(conn.execute(query).scalar_one())


def attempts(db: Database, run_id: int) -> dict[str, int]:
    with db.read() as conn:
        rows = conn.execute(
            select(task_queue.c.task, task_queue.c.attempts).where(task_queue.c.run_id == run_id)
        ).all()
    return {row.task: int(row.attempts) for row in rows}


def promote(db: Database, run_id: int) -> None:
    """Queue the run's waiting tasks whose upstream tasks are all done (a safety net: a
    task's result does it as it is recorded; tried again when it meets a deadlock)."""
    for attempt in range(3):
        try:
            with db.write("queueing ready tasks") as conn:
                _promote(conn, run_id)
            return
        except HeadgateError as exc:
            if not exc.transient or attempt == 2:
                raise


def _promote(conn: Connection, run_id: int, *, finished: Collection[str] | None = None) -> None:
    """Queue the run's waiting tasks whose upstream tasks are all done; with ``finished``
    (the tasks just done), only those waiting for one of them are looked at, and only
    the states of their upstream tasks are read (not every task of the run). The waiting
    rows are locked oldest first, so results applied at once never deadlock."""
    waiting = select(task_queue.c.id, task_queue.c.depends_on).where(
        task_queue.c.run_id == run_id, task_queue.c.state == "waiting"
    )
    postgres = conn.dialect.name == "postgresql"
    names = sorted(set(finished)) if finished is not None else None
    if names is not None and postgres:  # the JSONB array holds one: read only those rows
        waiting = waiting.where(task_queue.c.depends_on.op("?|")(cast(names, ARRAY(Text))))
    elif names is not None:
        rows = conn.execute(waiting).all()
        ids = [int(r.id) for r in rows if set(names) & set(r.depends_on or [])]
        if not ids:
            return
        waiting = waiting.where(task_queue.c.id.in_(ids))
    if postgres:  # two results at once: the second sees the first
        waiting = waiting.order_by(task_queue.c.id).with_for_update()
    rows = conn.execute(waiting).all()
    if not rows:
        return
    needed = {name for r in rows for name in r.depends_on or []}
    done_query = select(task_queue.c.task).where(
        task_queue.c.run_id == run_id, task_queue.c.state == "done"
    )
    if names is not None:
        done_query = done_query.where(task_queue.c.task.in_(sorted(needed)))
    done = set(conn.execute(done_query).scalars())
    ready = [int(r.id) for r in rows if all(name in done for name in r.depends_on or [])]
    if ready:
        conn.execute(
            update(task_queue)
            .where(task_queue.c.id.in_(ready), task_queue.c.state == "waiting")
            .values(state="queued")
        )
