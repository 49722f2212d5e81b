"""A run left by a hub that died is taken on by one hub only, however many start at once."""

from __future__ import annotations

import threading

import pytest

from headgate.state import runs
from headgate.state.agents import database
from headgate.state.store import StateStore
from tests.state.conftest import new_run


@pytest.fixture
def store(either_store: StateStore) -> StateStore:
    return either_store


def test_of_hubs_taking_on_an_abandoned_run_at_once_one_does(store: StateStore) -> None:
    run_id = new_run(store, command="run (agents)", host="gone")
    store.finish_run(run_id, "abandoned", error="its hub stopped")
    db = database(store)
    start = threading.Barrier(4)
    took: list[bool] = []

    def take_on(pid: int) -> None:
        start.wait()
        took.append(runs.reopen_abandoned(db, run_id, host="hub", pid=pid))

    threads = [threading.Thread(target=take_on, args=(pid,)) for pid in range(100, 104)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(took) == [False, False, False, True]
    record = store.get_run(run_id, specs=False)
    assert record is not None and record.status == "running" and record.error is None
    assert runs.reopen_abandoned(db, run_id, host="hub", pid=200) is False  # taken: stays so
