"""A step's recent tasks, read through the environment's latest runs (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headgate.state.records import TaskRecord
from headgate.state.steptasks import recent_tasks
from headgate.state.store import StateStore


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'state.db'}", None
    else:
        url, schema = request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")
    with StateStore.open(url, project_dir=tmp_path, schema=schema) as opened:
        yield opened


def _run(store: StateStore, environment: str, tasks: dict[str, str]) -> int:
    run_id = store.start_run(
        environment=environment,
        command="run",
        selection=None,
        user="ada",
        host=None,
        pid=None,
        git_commit=None,
    )
    store.record_tasks(
        [
            TaskRecord(
                run_id=run_id,
                name=name,
                kind="step" if name.startswith("steps.") else "model",
                status=status,
                fingerprint="f",
                detail={"output": f"run {run_id}"},
            )
            for name, status in tasks.items()
        ]
    )
    return run_id


def test_the_newest_runs_of_a_step_in_one_environment(store: StateStore) -> None:
    first = _run(store, "prod", {"steps.load": "built", "a": "built"})
    _run(store, "dev", {"steps.load": "failed"})
    second = _run(store, "prod", {"steps.load": "failed", "steps.notify": "built"})
    _run(store, "prod", {"a": "built"})  # a run without the step
    found = store.recent_tasks(["steps.load", "steps.notify"], "prod")
    assert [(t.run_id, t.name, t.status) for t in found] == [
        (second, "steps.load", "failed"),
        (second, "steps.notify", "built"),
        (first, "steps.load", "built"),
    ]
    assert found[0].detail == {"output": f"run {second}"}
    assert store.recent_tasks([], "prod") == []


def test_only_the_latest_runs_are_read(store: StateStore) -> None:
    old = _run(store, "prod", {"steps.load": "built"})
    for _ in range(3):
        _run(store, "prod", {"a": "built"})
    assert [t.run_id for t in store.recent_tasks(["steps.load"], "prod")] == [old]
    db = store._db  # the limit is the module's: asked for the last 3 runs, it is not among them
    assert recent_tasks(db, ["steps.load"], "prod", runs_back=3) == []
