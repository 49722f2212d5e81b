"""A task past ``task_timeout`` on PostgreSQL: its statement is cancelled on the server, the
task fails saying so, the run publishes nothing, and the next run builds on the same
connections as if nothing happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate import Project
from tests.support import write_project

pytestmark = pytest.mark.services

ENDLESS = "select count(*) as n from generate_series(1::bigint, 100000000000::bigint) g"


def test_a_postgres_query_past_task_timeout_is_cancelled_and_the_run_publishes_nothing(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    config = (
        "name: pg_timeout_test\n"
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {pg_prefix}}}\n"
        f"state_url: '{postgres_url}'\n"
        f"state_schema: {pg_schema}\n"
        "task_timeout: 1\n"
    )
    files = {
        "models/raw/numbers.sql": "select i as n from generate_series(1, 10) t(i)",
        "models/marts/endless.sql": ENDLESS,
    }
    root = write_project(tmp_path / "p", files, config=config)
    with Project.load(root) as project:
        stopped = project.run("dev")
        (root / "models/marts/endless.sql").write_text("select count(*) as n from raw.numbers")
    with Project.load(root) as project:
        again = project.run("dev")
        rows = project.query("select n from marts.endless", environment="dev").to_pylist()
    endless = next(t for t in stopped.tasks if t.name == "marts.endless")
    assert endless.status == "failed"
    assert "marts.endless ran longer than task_timeout (1 s) and was stopped" in (
        endless.error or ""
    )
    assert stopped.published is False
    assert again.status == "success" and again.published
    assert rows == [{"n": 10}]
