"""A run for agents keeps the steps it includes with its plan: a hub that follows it again
after a restart does what the run was started to do (here: build and check, not publish),
whatever its command text says; a run planned before plans kept them goes by its command.

Real ``headgate serve`` and ``headgate agent`` processes; the warehouse and the metadata
store are the test PostgreSQL's (tests/server/test_agents.py, tests/server/test_schedules_agents.py).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from headgate import Project
from headgate.state.tables import runs
from tests.server.hubs import free_port
from tests.server.test_agents import (
    HEADERS,
    admin_token,
    agent_process,
    deployments,
    finished,
    headers,
    hub_process,
    run_of,
    stop,
    until,
)
from tests.server.test_schedules_agents import API, FILES, schedule
from tests.support import write_project

pytestmark = [pytest.mark.services, pytest.mark.slow]

ENV = "staging"
SCHEDULES = """
schedules:
  - name: minutely
    cron: "* * * * *"            # the slot of the minute the hub starts in runs at once
    environment: staging
    includes: [ingest, build, checks]
    agents: {labels: {site: eu}}
"""


def make_project(root: Path, postgres_url: str, schema: str, prefix: str) -> Path:
    config = (
        "name: agent_includes_test\n"
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {prefix}}}\n"
        f"state_url: '{postgres_url}'\n"
        f"state_schema: {schema}\n"
    )
    return write_project(root, FILES, config=config + SCHEDULES)


def test_a_followed_again_run_does_the_steps_its_plan_keeps_not_its_commands_text(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    root = make_project(tmp_path / "project", postgres_url, pg_schema, pg_prefix)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = admin_token(root, url)
    HEADERS[url] = {"Authorization": f"Bearer {token}"} if token else {}
    log = tmp_path / "hub.log"
    with hub_process(root, port, log) as hub:  # no agent yet: the runs' tasks wait queued
        until(lambda: schedule(url)["last_run_id"], 60, "the slot's run to start")
        paused = httpx.post(
            f"{url}{API}/schedules/minutely/pause", headers=headers(url), timeout=30
        )
        assert paused.status_code == 200, paused.text
        kept = int(schedule(url)["last_run_id"])
        triggered = httpx.post(
            f"{url}{API}/schedules/minutely/trigger", headers=headers(url), timeout=30
        )
        assert triggered.status_code == 202, triggered.text
        older = int(triggered.json()["run_id"])
        # its tasks queued: this test is about runs followed again (a run whose hub dies
        # before queuing them is planned again: tests/server/test_agent_recovery.py)
        until(lambda: _queued(root, older), 60, f"run {older}'s tasks to be queued")
        os.kill(hub.pid, signal.SIGKILL)  # the hub dies; the next one follows both runs
        hub.wait()
    with Project.load(root) as project:
        assert _planned(root, kept)
        plan = project.state.run_plan(kept)
        assert plan is not None and plan["includes"] == ["ingest", "build", "checks"]
        with project.state.engine.begin() as conn:  # a command that no longer says --only
            conn.execute(update(runs).where(runs.c.id == kept).values(command="run (agents)"))
        older_plan = project.state.run_plan(older)
        assert older_plan is not None
        del older_plan["includes"]  # as an earlier headgate planned it
        project.state.save_run_plan(older, older_plan)
    worker = agent_process(url, root, "site-agent", tmp_path / "agent.log", lease=5)
    try:
        with hub_process(root, port, log):
            for run_id in (kept, older):
                until(lambda r=run_id: finished(url, r), 120, f"run {run_id} to finish")
            followed = {run_id: run_of(url, run_id) for run_id in (kept, older)}
    finally:
        stop(worker)
    for run_id, run in followed.items():
        assert run["status"] == "success", (run, log.read_text()[-3000:])
        assert not run["published"], run  # built and checked, left unpublished
        assert deployments(root, run_id) == 0
    assert followed[older]["command"] == "run (agents) --only ingest,build,checks"


def _planned(root: Path, run_id: int) -> bool:
    with Project.load(root) as project:
        return project.state.run_plan(run_id) is not None


def _queued(root: Path, run_id: int) -> bool:
    with Project.load(root) as project:
        return bool(project.state.queue_states(run_id))
