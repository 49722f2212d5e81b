"""A schedule whose runs go to agents: a real ``headgate serve`` plans each slot's run, a real
``headgate agent`` carries out its tasks, and the hub publishes it once.

The warehouse and the metadata store are the test PostgreSQL's, as for the other agents'
tests (tests/server/test_agents.py, whose process helpers this reuses).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from headgate import Project
from tests.server.hubs import free_port
from tests.server.test_agents import (
    HEADERS,
    admin_token,
    agent_process,
    finished,
    headers,
    hub_process,
    queue_of,
    run_of,
    stop,
    until,
)
from tests.support import write_project

pytestmark = [pytest.mark.services, pytest.mark.slow]

API = "/api/v1"
ENV = "staging"

FILES = {
    "models/raw/numbers.sql": "select i as n from range(100) t(i)",
    "models/marts/total.sql": "select sum(n) as total, count(*) as rows from raw.numbers",
}

SCHEDULES = """
schedules:
  - name: minutely
    cron: "* * * * *"            # the slot of the minute the hub starts in runs at once
    environment: staging
    retries: 3
    includes: [ingest, build, checks, publish]
    agents: {labels: {site: eu}}
"""


def make_project(root: Path, postgres_url: str, schema: str, prefix: str) -> Path:
    config = (
        "name: schedules_agents_test\n"
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {prefix}}}\n"
        f"state_url: '{postgres_url}'\n"
        f"state_schema: {schema}\n"
    )
    return write_project(root, FILES, config=config + SCHEDULES)


def schedule(url: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}{API}/schedules/minutely", headers=headers(url), timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def away_from_the_next_slot() -> None:
    """Start the hub early in a minute, so the slot it starts in is the only one it runs
    before the test pauses the schedule (a loaded machine can take seconds to start it)."""
    second = datetime.now(UTC).second
    if second >= 30:
        time.sleep(61 - second)


def first_slot_run(root: Path) -> int:
    """The run of the schedule's first slot: the one that publishes (a later slot's run, on
    a loaded machine, finds nothing changed)."""
    with Project.load(root) as project:
        ran = [s for s in project.state.schedule_slots("minutely") if s.run_id is not None]
    return int(sorted(ran, key=lambda s: s.slot_at)[0].run_id or 0)


def total(root: Path) -> list[dict[str, Any]]:
    with Project.load(root) as project:
        rows: list[dict[str, Any]] = project.query(
            "select total, rows from marts.total", environment=ENV
        ).to_pylist()
        return rows


def test_a_schedules_slot_run_is_carried_out_by_an_agent_and_published_once(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    root = make_project(tmp_path / "project", postgres_url, pg_schema, pg_prefix)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = admin_token(root, url)
    HEADERS[url] = {"Authorization": f"Bearer {token}"} if token else {}
    away_from_the_next_slot()
    worker = agent_process(url, root, "site-agent", tmp_path / "agent.log", lease=5)
    log = tmp_path / "hub.log"
    try:
        with hub_process(root, port, log):
            until(lambda: schedule(url)["last_run_id"], 60, "the slot's run to start")
            paused = httpx.post(
                f"{url}{API}/schedules/minutely/pause", headers=headers(url), timeout=30
            )
            assert paused.status_code == 200, paused.text
            listed = schedule(url)
            run_id = first_slot_run(root)
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
            run = run_of(url, run_id)
            queued = queue_of(url, run_id)
            assert total(root) == [{"total": 4950, "rows": 100}]

            # a run started now by the API goes to the agents too
            (root / "models/raw/numbers.sql").write_text("select i as n from range(10) t(i)")
            triggered = httpx.post(
                f"{url}{API}/schedules/minutely/trigger", headers=headers(url), timeout=30
            )
            assert triggered.status_code == 202, triggered.text
            again = int(triggered.json()["run_id"])
            until(lambda: finished(url, again), 120, f"run {again} to finish")
            second = run_of(url, again)
            second_queue = queue_of(url, again)
    finally:
        stop(worker)
    assert run["status"] == "success" and run["published"], (run, log.read_text()[-3000:])
    assert run["command"] == "run (agents) --only ingest,build,checks,publish"
    assert run["user"] == "schedule minutely"
    assert {t["task"]: t["agent"] for t in queued["tasks"]} == {
        "raw.numbers": "site-agent",
        "marts.total": "site-agent",
    }
    assert listed["agents"] == {"labels": {"site": "eu"}, "sites": []}
    assert listed["includes"] == ["ingest", "build", "checks", "publish"]
    assert second["status"] == "success" and second["published"], second
    assert {t["agent"] for t in second_queue["tasks"]} == {"site-agent"}
    assert total(root) == [{"total": 45, "rows": 10}]
    with Project.load(root) as project:
        slots = project.state.schedule_slots("minutely")
        ran = [s for s in slots if s.run_id is not None]
        assert ran[0].run_id == run_id  # the slot recorded once, with its run
        assert len({s.run_id for s in ran}) == len(ran) == len({s.slot_at for s in ran})
        planned = project.state.run_plan(run_id)
        assert planned is not None
        assert datetime.fromisoformat(str(planned["end"])) == ran[0].slot_at  # the slot's end
        [entry] = [e for e in project.audit_log(action="run.start") if e.target == str(run_id)]
        assert entry.detail["schedule"] == "minutely"
        assert entry.detail["agents"] == {"labels": {"site": "eu"}, "sites": []}
        assert entry.detail["includes"] == ["ingest", "build", "checks", "publish"]
        published = [d for d in project.deployments(ENV) if d.run_id in (run_id, again)]
        assert sorted(int(d.run_id or 0) for d in published) == [
            run_id,
            again,
        ]  # each published once
