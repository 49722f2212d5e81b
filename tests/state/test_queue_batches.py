"""Many leases at once: a batch of results ends its leases in one UPDATE and keeps its
tasks' lines in one INSERT, and the leases in hand are extended in at most two statements,
each lease answered as the one-lease functions answer it (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from headgate.state import queue, queue_batches
from headgate.state.agents import database, output_of
from headgate.state.database import Database
from headgate.state.queue import Ended, Lease
from headgate.state.store import StateStore
from headgate.state.tables import task_queue
from tests.state.conftest import new_run

LEASE = timedelta(seconds=30)


@pytest.fixture
def store(either_store: StateStore) -> StateStore:
    return either_store


def test_a_batch_of_results_ends_the_current_leases_alone_in_one_statement(
    store: StateStore,
) -> None:
    run_id = new_run(store)
    store.enqueue_tasks(run_id, [(name, {}, []) for name in ("a", "b", "c", "d", "e")])
    db = database(store)
    a, b = claim(store), claim(store)
    first_c = store.claim_task("x", {}, timedelta(seconds=-1))  # its lease is over at once
    assert first_c is not None and store.expire_leases() == [first_c.id]
    c = claim(store)  # c again: its second attempt, a new token
    d = claim(store)
    assert (c.task, c.attempt, c.fence) == ("c", 2, first_c.fence + 1)
    assert store.complete_task(d.id, d.fence, ok=True)  # d ended already
    results = [
        (a.id, a.fence, True, None),
        (b.id, b.fence, False, "boom"),
        (c.id, first_c.fence, False, "from the first attempt"),  # stale
        (c.id, c.fence, True, None),
        (d.id, d.fence, False, "too late"),
        (a.id, a.fence, False, "twice"),  # a lease reported twice ends at its first result
    ]
    with counted(db) as statements, db.write() as conn:
        found = queue_batches.end_leases_in(conn, results)
    assert statements == ["UPDATE"]
    assert found == [
        Ended(a.id, run_id, "a", 1, "done"),
        Ended(b.id, run_id, "b", 1, "failed"),
        None,
        Ended(c.id, run_id, "c", 2, "done"),
        None,
        None,
    ]
    assert rows(db, run_id) == {
        "a": ("done", None, None),
        "b": ("failed", "boom", None),
        "c": ("done", None, None),
        "d": ("done", None, None),
        "e": ("queued", None, None),
    }


def test_a_batch_that_all_succeeds_or_all_fails_and_one_of_nothing(store: StateStore) -> None:
    run_id = new_run(store)
    store.enqueue_tasks(run_id, [(name, {}, []) for name in ("a", "b", "c")])
    db = database(store)
    a, b, c = claim(store), claim(store), claim(store)
    with db.write() as conn:
        assert queue_batches.end_leases_in(conn, []) == []
        done = queue_batches.end_leases_in(conn, [(a.id, a.fence, True, None)])
        failed = queue_batches.end_leases_in(
            conn, [(b.id, b.fence, False, "one"), (c.id, c.fence, False, None)]
        )
    assert [e.state for e in done + failed if e is not None] == ["done", "failed", "failed"]
    assert rows(db, run_id) == {
        "a": ("done", None, None),
        "b": ("failed", "one", None),
        "c": ("failed", None, None),
    }


def test_the_tasks_lines_are_kept_per_task_and_attempt_in_one_insert(store: StateStore) -> None:
    run_id = new_run(store)
    db = database(store)
    ends = [Ended(1, run_id, "a", 1), Ended(2, run_id, "b", 3, "failed"), Ended(3, run_id, "c", 1)]
    outputs = [(ends[0], ["a says", "a again"]), (ends[1], ["b says"]), (ends[2], [])]
    with counted(db) as statements, db.write() as conn:
        queue_batches.keep_output_in(conn, outputs, "agent-7")
        queue_batches.keep_output_in(conn, [(ends[2], [])], "agent-7")  # nothing: no statement
    assert statements == ["INSERT"]
    kept = [(o.task, o.attempt, o.source, o.line) for o in output_of(db, run_id)]
    assert kept == [
        ("a", 1, "agent-7", "a says"),
        ("a", 1, "agent-7", "a again"),
        ("b", 3, "agent-7", "b says"),
    ]


def test_many_lines_are_kept_whole_within_the_databases_parameter_limits(
    store: StateStore,
) -> None:
    run_id = new_run(store)
    db = database(store)
    lines = [f"line {i}" for i in range(queue_batches.LINES_PER_INSERT + 1)]
    with counted(db) as statements, db.write() as conn:
        queue_batches.keep_output_in(conn, [(Ended(1, run_id, "a", 1), lines)], None)
    assert statements == ["INSERT", "INSERT"]
    assert [o.line for o in output_of(db, run_id)] == lines


def test_leases_in_hand_are_extended_and_answered_as_heartbeats_answer(
    store: StateStore,
) -> None:
    run_id, other_run = new_run(store), new_run(store)
    store.enqueue_tasks(run_id, [("x", {}, []), ("y", {}, [])])
    store.enqueue_tasks(other_run, [("z", {}, [])])
    db = database(store)
    x, y, z = claim(store), claim(store), claim(store)
    store.cancel_queued(other_run)  # z is asked to stop
    assert store.complete_task(y.id, y.fence, ok=True)  # y is no longer held
    held = [(x.id, x.fence), (z.id, z.fence), (y.id, y.fence), (x.id, x.fence + 1), (999, 1)]
    before = datetime.now(UTC)
    with counted(db) as statements:
        answers = queue_batches.extend_leases(db, held, timedelta(seconds=600))
    assert statements == ["UPDATE", "SELECT"]  # the second only for leases no longer held
    assert answers == [(True, False), (True, True), (False, False), (False, False), (False, False)]
    assert answers == [queue.heartbeat(db, lease, fence, LEASE) for lease, fence in held]
    with counted(db) as statements:
        again = queue_batches.extend_leases(db, held[:2], timedelta(seconds=600))
    assert statements == ["UPDATE"] and again == answers[:2]
    assert queue_batches.extend_leases(db, [], LEASE) == []
    ends = lease_ends(db, run_id, other_run)
    assert ends["x"] is not None and ends["x"] > before + timedelta(seconds=500)
    assert ends["z"] is not None and ends["z"] > before + timedelta(seconds=500)
    assert ends["y"] is None


def claim(store: StateStore) -> Lease:
    lease = store.claim_task("x", {}, LEASE)
    assert lease is not None
    return lease


def rows(db: Database, run_id: int) -> dict[str, tuple[str, str | None, datetime | None]]:
    """Each task's state, error and lease end."""
    query = select(
        task_queue.c.task, task_queue.c.state, task_queue.c.error, task_queue.c.lease_until
    ).where(task_queue.c.run_id == run_id)
    with db.read() as conn:
        return {r.task: (r.state, r.error, r.lease_until) for r in conn.execute(query)}


def lease_ends(db: Database, *run_ids: int) -> dict[str, datetime | None]:
    query = select(task_queue.c.task, task_queue.c.lease_until).where(
        task_queue.c.run_id.in_(run_ids)
    )
    with db.read() as conn:
        return {r.task: r.lease_until for r in conn.execute(query)}


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    """The kinds of the queue's statements sent meanwhile (UPDATE, INSERT, SELECT)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        kind = statement.lstrip().split(None, 1)[0].upper()
        if kind in {"UPDATE", "INSERT", "SELECT", "DELETE"}:
            seen.append(kind)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
