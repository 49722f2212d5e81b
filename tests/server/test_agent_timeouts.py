"""A run carried out by agents keeps its timeout and retries: the project's ``task_timeout``
and ``retries``, or a schedule's ``timeout`` and ``retries``, travel with the run's plan.

A real hub serves on a free port, agents take the tasks over HTTP in threads; the warehouse
and the metadata store are the test PostgreSQL's (tests/server/test_agents.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate.project.schedules import AgentsConfig
from headgate.runtime.executor import RetryPolicy
from tests.runtime.test_service import FLAKY as FLAKY_MODEL
from tests.server.hubs import serving
from tests.server.test_agents import (
    agents_in_threads,
    deployments,
    finished,
    queue_of,
    run_of,
    start_run,
    until,
)
from tests.support import write_project

pytestmark = pytest.mark.services

ENV = "staging"
ENDLESS = "select count(*) as n from generate_series(1::bigint, 100000000000::bigint) g"

FLAKY = FLAKY_MODEL.format(fail_times=2, error="ServerBusy")  # built on its third try


def make_project(root: Path, postgres_url: str, schema: str, prefix: str, extra: str) -> Path:
    config = (
        "name: agent_timeouts_test\n"
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {prefix}}}\n"
        f"state_url: '{postgres_url}'\n"
        f"state_schema: {schema}\n"
        "retry_backoff: 0.01\n" + extra
    )
    files = {
        "models/raw/numbers.sql": "select i as n from generate_series(1, 100) t(i)",
        "models/marts/endless.sql": ENDLESS,
        "models/api/flaky.py": FLAKY,
    }
    return write_project(root, files, config=config)


def tasks_of(url: str, run_id: int) -> dict[str, dict[str, object]]:
    return {str(t["name"]): t for t in run_of(url, run_id)["tasks"]}


def test_a_task_past_the_projects_task_timeout_is_stopped_on_its_agent(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    root = make_project(tmp_path / "p", postgres_url, pg_schema, pg_prefix, "task_timeout: 1\n")
    with serving(root) as served, agents_in_threads(served.url, root, ("eu-1", {})):
        run_id = start_run(served.url, environment=ENV)
        until(lambda: finished(served.url, run_id), 120, f"run {run_id} to end")
        run = run_of(served.url, run_id)
        tasks = tasks_of(served.url, run_id)
        queued = {t["task"]: t for t in queue_of(served.url, run_id)["tasks"]}
    endless = tasks["marts.endless"]
    assert endless["status"] == "failed"
    error = str(endless["error"])
    assert "marts.endless ran longer than task_timeout (1 s) and was stopped" in error, error
    assert "raise task_timeout in headgate.yml" in error
    assert queued["marts.endless"]["state"] == "failed"
    # the project's retries reach the agent too: a transient error is tried again there
    assert tasks["api.flaky"]["status"] == "built"
    assert (root / "models/api/flaky.tries").read_text() == "3"
    assert run["status"] == "failed" and not run["published"]
    assert "marts.endless" in run["error"]
    assert deployments(root, run_id) == 0


def test_a_schedules_timeout_and_retries_reach_the_agents_carrying_its_run(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    # the project says no retries and no timeout: what the agents apply is the schedule's
    root = make_project(tmp_path / "p", postgres_url, pg_schema, pg_prefix, "retries: 0\n")
    with serving(root) as served, agents_in_threads(served.url, root, ("eu-1", {"site": "eu"})):
        run_id = served.hub.start_scheduled_run(
            ENV,
            selection=None,
            user="schedule nightly",
            agents=AgentsConfig(labels={"site": "eu"}),
            policy=RetryPolicy(attempts=3, backoff=0.01, timeout=1.5),
        )
        until(lambda: finished(served.url, run_id), 120, f"run {run_id} to end")
        run = run_of(served.url, run_id)
        tasks = tasks_of(served.url, run_id)
    assert tasks["api.flaky"]["status"] == "built"  # tried three times, as the schedule says
    assert tasks["api.flaky"]["attempts"] == 3
    assert (root / "models/api/flaky.tries").read_text() == "3"
    error = str(tasks["marts.endless"]["error"])
    assert "ran longer than task_timeout (1.5 s) and was stopped" in error, error
    assert run["status"] == "failed" and not run["published"]
    assert deployments(root, run_id) == 0
