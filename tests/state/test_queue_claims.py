"""Claims past a page of tasks other agents' labels ask for, and results that queue the
tasks waiting for them (on PostgreSQL, found by the JSONB their dependencies are kept in)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from headgate.state.store import StateStore
from tests.state.conftest import new_run

LEASE = timedelta(seconds=30)


def test_an_agent_takes_the_first_task_it_fits_behind_pages_it_does_not(tmp_path: Path) -> None:
    with StateStore.open(None, project_dir=tmp_path) as store:
        run_id = new_run(store)
        gpu = [(f"gpu{i}", {"gpu": "yes"}, []) for i in range(300)]
        store.enqueue_tasks(run_id, [*gpu, ("plain", {}, []), ("eu", {"site": "eu"}, [])])
        lease = store.claim_task("cpu-agent", {"site": "eu"}, LEASE)
        assert lease is not None and lease.task == "plain"
        lease = store.claim_task("cpu-agent", {"site": "eu"}, LEASE)
        assert lease is not None and lease.task == "eu"
        assert store.claim_task("cpu-agent", {"site": "eu"}, LEASE) is None
        lease = store.claim_task("gpu-agent", {"gpu": "yes"}, LEASE)
        assert lease is not None and lease.task == "gpu0"


@pytest.mark.services
def test_a_result_queues_exactly_the_tasks_it_was_the_last_wait_of(
    postgres_url: str, tmp_path: Path, pg_schema: str
) -> None:
    with StateStore.open(postgres_url, project_dir=tmp_path, schema=pg_schema) as store:
        run_id = new_run(store)
        tasks = [
            ("a", {}, []),
            ("b", {}, []),
            ("needs_a", {}, ["a"]),
            ("needs_ab", {}, ["a", "b"]),
            ("needs_ab_again", {}, ["b", "a"]),
        ]
        store.enqueue_tasks(run_id, tasks)
        store.enqueue_tasks(run_id, tasks)  # queued again (a resumed run): kept as they are
        first = store.claim_task("x", {}, LEASE)
        assert first is not None and first.task == "a"
        assert store.complete_task(first.id, first.fence, ok=True)
        states = store.queue_states(run_id)
        assert states == {
            "a": "done",
            "b": "queued",
            "needs_a": "queued",
            "needs_ab": "waiting",
            "needs_ab_again": "waiting",
        }
        second = store.claim_task("x", {}, LEASE)
        assert second is not None and second.task == "b"
        assert store.complete_task(second.id, second.fence, ok=True)
        states = store.queue_states(run_id)
        assert states["needs_ab"] == states["needs_ab_again"] == "queued"


def test_a_task_looked_at_ahead_stays_queued_and_is_leased_only_while_it_still_is(
    tmp_path: Path,
) -> None:
    from headgate.state import claims
    from headgate.state.agents import database

    with StateStore.open(None, project_dir=tmp_path) as store:
        run_id = new_run(store)
        store.enqueue_tasks(run_id, [("gpu", {"gpu": "yes"}, []), ("a", {}, []), ("b", {}, [])])
        db = database(store)
        ahead = claims.peek(db, {})
        assert ahead is not None and ahead.task == "a"
        assert claims.peek(db, {}) == ahead  # looking takes nothing
        other = store.claim_task("other-agent", {}, LEASE)  # another agent is quicker
        assert other is not None and other.task == "a"
        assert claims.take(db, ahead.id, "slow-agent", LEASE) is None  # no longer queued
        later = claims.peek(db, {})
        assert later is not None and later.task == "b"
        taken = claims.take(db, later.id, "slow-agent", LEASE)
        assert taken is not None and (taken.task, taken.fence, taken.attempt) == ("b", 1, 1)
        assert store.queue_states(run_id) == {"gpu": "queued", "a": "leased", "b": "leased"}


@pytest.mark.services
def test_a_claim_for_several_leases_exactly_as_many_oldest_first_passing_rows_being_taken(
    postgres_url: str, tmp_path: Path, pg_schema: str
) -> None:
    from sqlalchemy import text

    from headgate.state import claims
    from headgate.state.agents import database

    with StateStore.open(postgres_url, project_dir=tmp_path, schema=pg_schema) as store:
        run_id = new_run(store)
        store.enqueue_tasks(run_id, [(f"t{i}", {}, []) for i in range(6)])
        db = database(store)
        with db.engine.connect() as other:  # another agent is taking t0 right now
            other.execute(
                text(f"select id from {pg_schema}.task_queue where task = 't0' for update")
            )
            two = claims.claim_many(db, "batch", {}, LEASE, 2)
            one = claims.claim(db, "single", {}, LEASE)
            other.rollback()
        states = store.queue_states(run_id)
    assert [lease.task for lease in two] == ["t1", "t2"]
    assert one is not None and one.task == "t3"
    assert states == {
        "t0": "queued",
        "t1": "leased",
        "t2": "leased",
        "t3": "leased",
        "t4": "queued",
        "t5": "queued",
    }
