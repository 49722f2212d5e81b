"""Many leases at once: the results of several tasks, or their leases extended, each in a
fixed number of statements whatever the batch's size.

An agent that keeps tasks in hand reports several results per call and extends the
leases of the tasks it holds. Per lease, :mod:`headgate.state.queue` would send one
UPDATE to end it, one INSERT for its output lines, and a transaction of two statements to
extend it; here a batch ends all its leases in one UPDATE (each with its own fencing
token, state and error), keeps all their lines in one INSERT, and extends all the leases
in hand in one transaction of at most two statements. The answers are the ones the
single-lease functions give, per lease, in the caller's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, select, tuple_, update

from headgate.state.database import Database
from headgate.state.queue import Ended
from headgate.state.sqltypes import now
from headgate.state.tables import task_output, task_queue

# A lease's result: (lease id, its fencing token, whether the task succeeded, its error).
Outcome = tuple[int, int, bool, str | None]
# Rows of task_output per INSERT: a batch's lines stay within the databases' limits on
# bound parameters (six per row; SQLite allows 32,766, PostgreSQL 65,535).
LINES_PER_INSERT = 5000


def end_leases_in(conn: Connection, results: Sequence[Outcome]) -> list[Ended | None]:
    """The leases whose tokens are current ended (done or failed, with their errors) in
    one UPDATE in the caller's transaction, their rows locked until it ends: per result,
    in order, how its task ended, or None when its token is stale or the task no longer
    leased (nothing recorded). A lease reported twice with one token ends at its first
    result."""
    first: dict[tuple[int, int], int] = {}  # (lease id, token) -> its first result's place
    for place, (lease_id, fence, _, _) in enumerate(results):
        first.setdefault((lease_id, fence), place)
    if not first:
        return []
    rows = conn.execute(
        update(task_queue)
        .where(
            *_fenced(list(first)),
            task_queue.c.state == "leased",
        )
        .values(
            state=_states([results[place] for place in first.values()]),
            error=_errors([results[place] for place in first.values()]),
            lease_until=None,
        )
        .returning(
            task_queue.c.id,
            task_queue.c.fence,
            task_queue.c.run_id,
            task_queue.c.task,
            task_queue.c.attempts,
        )
    ).all()
    ended: dict[int, Ended] = {}  # by the place of the result that ended it
    for r in rows:
        place = first[(int(r.id), int(r.fence))]
        state = "done" if results[place][2] else "failed"
        ended[place] = Ended(int(r.id), int(r.run_id), str(r.task), int(r.attempts), state)
    return [ended.get(place) for place in range(len(results))]


def _fenced(pairs: list[tuple[int, int]]) -> tuple[Any, Any]:
    """The rows of these (lease id, token) pairs: found by their ids (SQLite scans the
    table for a pair of columns IN a list), then each id's token checked."""
    ids = sorted({lease_id for lease_id, _ in pairs})
    return task_queue.c.id.in_(ids), tuple_(task_queue.c.id, task_queue.c.fence).in_(pairs)


def _states(results: Sequence[Outcome]) -> Any:
    """Each lease's new state: done for the results that succeeded, failed for the rest."""
    done = [(lease_id, fence) for lease_id, fence, ok, _ in results if ok]
    if len(done) in (0, len(results)):
        return "done" if done else "failed"
    return case((tuple_(task_queue.c.id, task_queue.c.fence).in_(done), "done"), else_="failed")


def _errors(results: Sequence[Outcome]) -> Any:
    """Each lease's error (none for most: only those of results that carry one are sent)."""
    whens = [
        (and_(task_queue.c.id == lease_id, task_queue.c.fence == fence), error)
        for lease_id, fence, _, error in results
        if error is not None
    ]
    return case(*whens, else_=None) if whens else None


def keep_output_in(
    conn: Connection, outputs: Sequence[tuple[Ended, Sequence[str]]], source: str | None
) -> None:
    """The last lines of the tasks just ended kept (each with its task and attempt), in
    one INSERT in the caller's transaction (one more per :data:`LINES_PER_INSERT` lines)."""
    stamp = now()
    rows = [
        {
            "run_id": ended.run_id,
            "task": ended.task,
            "attempt": ended.attempt,
            "source": source,
            "at": stamp,
            "line": line,
        }
        for ended, lines in outputs
        for line in lines
    ]
    for start in range(0, len(rows), LINES_PER_INSERT):
        conn.execute(task_output.insert().values(rows[start : start + LINES_PER_INSERT]))


def extend_leases(
    db: Database, held: Sequence[tuple[int, int]], lease: timedelta
) -> list[tuple[bool, bool]]:
    """The leases in hand whose tokens are current extended by ``lease``, in one
    transaction: per (lease id, token), in order, (still held, cancel asked), as
    :func:`headgate.state.queue.heartbeat` answers. One UPDATE; a SELECT follows only for
    leases no longer held (whether their tasks were cancelled)."""
    if not held:
        return []
    pairs = sorted(set(held))
    with db.write("extending leases") as conn:
        rows = conn.execute(
            update(task_queue)
            .where(
                *_fenced(pairs),
                task_queue.c.state == "leased",
            )
            .values(lease_until=now() + lease)
            .returning(task_queue.c.id, task_queue.c.fence, task_queue.c.cancel)
        ).all()
        current = {(int(r.id), int(r.fence)) for r in rows}
        cancels = {int(r.id): bool(r.cancel) for r in rows}
        lost = sorted({lease_id for lease_id, _ in pairs if lease_id not in cancels})
        if lost:
            found = conn.execute(
                select(task_queue.c.id, task_queue.c.cancel).where(task_queue.c.id.in_(lost))
            ).all()
            cancels.update((int(r.id), bool(r.cancel)) for r in found)
    return [(pair in current, cancels.get(pair[0], False)) for pair in held]
