"""A run for agents whose hub died after recording it and before queuing its tasks is
planned and queued again by the next hub, carried out by an agent and published once; one
recorded by an earlier headgate (which kept no placement) stays abandoned and says why.

Real ``headgate serve`` and ``headgate agent`` processes; the warehouse and the metadata
store are the test PostgreSQL's (tests/server/test_agents.py).
"""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headgate import Project
from headgate.runtime.executor import RetryPolicy
from headgate.server.agentplacement import Placement, kept_placement
from headgate.state import agents, runs
from tests.server.hubs import free_port
from tests.server.test_agents import (
    ENV,
    HEADERS,
    admin_token,
    agent_process,
    deployments,
    finished,
    hub_process,
    make_project,
    queue_of,
    run_of,
    stop,
    until,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]


def dead_pid() -> int:
    """The id of a process of this host that has ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


def record_as_a_dying_hub(root: Path, *, keeps_placement: bool) -> int:
    """A run for agents recorded as a hub records it, by a hub that died before planning
    and queuing it (with ``keeps_placement=False``: as an earlier headgate recorded it)."""
    placement = Placement(labels={"site": "eu"}, policy=RetryPolicy(attempts=2, backoff=0.5))
    slot = datetime.now(UTC).replace(second=0, microsecond=0)  # as a schedule's slot ends
    with Project.load(root) as project:
        return runs.start_run(
            agents.database(project.state),
            environment=ENV,
            command="run (agents)",
            selection=None,
            user="scheduler",
            host=socket.gethostname(),
            pid=dead_pid(),
            git_commit=None,
            placement=kept_placement(placement, slot) if keeps_placement else None,
        )


def test_a_run_lost_before_its_tasks_were_queued_is_queued_again_and_published_once(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    root = make_project(tmp_path / "project", postgres_url, pg_schema, pg_prefix)
    lost = record_as_a_dying_hub(root, keeps_placement=True)
    older = record_as_a_dying_hub(root, keeps_placement=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = admin_token(root, url)
    HEADERS[url] = {"Authorization": f"Bearer {token}"} if token else {}
    log = tmp_path / "hub.log"
    worker = agent_process(url, root, "site-agent", tmp_path / "agent.log", lease=5)
    try:
        with hub_process(root, port, log):
            until(lambda: finished(url, lost), 120, f"run {lost} to finish (log: {log})")
            run = run_of(url, lost)
            queued = queue_of(url, lost)
            left = run_of(url, older)
    finally:
        stop(worker)
    assert run["status"] == "success" and run["published"], (run, log.read_text()[-3000:])
    assert {(t["state"], t["agent"]) for t in queued["tasks"]} == {("done", "site-agent")}
    assert deployments(root, lost) == 1
    with Project.load(root) as project:
        assert project.query("select n, total from marts.report", environment=ENV).to_pylist() == [
            {"n": 1000, "total": 499500}
        ]
    assert left["status"] == "abandoned"
    assert "before queuing its tasks" in left["error"]
    assert "earlier headgate" in left["error"] and "start it again" in left["error"]
