"""The same runs with the metadata store in PostgreSQL, as a team would set it up."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate import Project
from tests.support import cli_json, statuses, write_project

pytestmark = pytest.mark.services

FILES = {
    "models/a.sql": "select i from range(5) t(i)",
    "models/b.sql": "select count(*) as n from a",
    "models/c.sql": "select 1 as one",
}


def test_runs_recorded_in_postgres(tmp_path: Path, postgres_url: str, pg_schema: str) -> None:
    root = write_project(tmp_path, FILES)
    env = {"HEADGATE_STATE_URL": postgres_url, "HEADGATE_STATE_SCHEMA": pg_schema}
    first = cli_json(root, "run", env=env)
    assert first["status"] == "success"
    assert set(statuses(first).values()) == {"built"}
    second = cli_json(root, "run", env=env)
    assert set(statuses(second).values()) == {"skipped"}
    runs = cli_json(root, "runs", env=env)["runs"]
    assert [r["id"] for r in runs] == [second["run_id"], first["run_id"]]
    assert not (root / ".headgate/state.db").exists()  # nothing went to the local SQLite


def test_failure_and_status_with_postgres_state(
    tmp_path: Path, postgres_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADGATE_STATE_SCHEMA", pg_schema)
    root = write_project(tmp_path, FILES)
    with Project.load(root, state_url=postgres_url) as project:
        assert project.run().status == "success"
    (root / "models/b.sql").write_text("select 'x'::int as n from a")
    with Project.load(root, state_url=postgres_url) as project:
        result = project.run()
        assert result.status == "failed" and not result.published
        status = project.status()
        assert {m.name: m.state for m in status.models}["b"] == "changed"
        assert project.query("select n from b").to_pylist() == [{"n": 5}]
        assert status.last_run is not None and status.last_run.status == "failed"
