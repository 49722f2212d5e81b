"""An agent asked to stop while its hub is gone stops once its leases have ended, and at
once when asked twice: it does not try to report forever.

Real ``headgate serve`` and ``headgate agent`` processes (the agent keeps tasks in hand,
as it does by default); the warehouse and the metadata store are the test PostgreSQL's.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.server.hubs import free_port
from tests.server.test_agents import (
    ENV,
    HEADERS,
    admin_token,
    agent_process,
    hub_process,
    leased_by,
    make_project,
    start_run,
    stop,
    until,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]
# longer than the slow model (4 s), so its first heartbeat comes after it ends: the agent
# holds a result it cannot report
LEASE = 15


@pytest.fixture
def project(tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str) -> Path:
    return make_project(tmp_path / "project", postgres_url, pg_schema, pg_prefix)


def agent_with_a_result_and_no_hub(project: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    """An agent in the middle of the slow model whose hub has just been killed (the model
    ends before its first heartbeat is due)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = admin_token(project, url)
    HEADERS[url] = {"Authorization": f"Bearer {token}"} if token else {}
    worker = agent_process(url, project, "stranded", tmp_path / "agent.log", lease=LEASE)
    with hub_process(project, port, tmp_path / "hub.log") as hub:
        run_id = start_run(url, environment=ENV, labels={"site": "eu"})
        until(lambda: leased_by(url, run_id, "marts.slow") == "stranded", 120, "the slow task")
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait()
    return worker


def test_a_stopping_agent_whose_hub_is_gone_stops_once_its_leases_have_ended(
    project: Path, tmp_path: Path
) -> None:
    worker = agent_with_a_result_and_no_hub(project, tmp_path)
    try:
        worker.send_signal(signal.SIGTERM)  # it finishes the slow task, then cannot report
        worker.wait(timeout=120)  # it stops by itself (trying forever would hang here)
    finally:
        stop(worker)
    log = (tmp_path / "agent.log").read_text()
    assert worker.returncode == 0, log[-3000:]
    assert "stopping without reporting 1 result(s)" in log, log[-3000:]
    assert "go back to the queue when their leases end" in log
    assert "agent stranded stopped" in log


def test_an_agent_asked_twice_stops_at_once(project: Path, tmp_path: Path) -> None:
    worker = agent_with_a_result_and_no_hub(project, tmp_path)
    try:
        worker.send_signal(signal.SIGTERM)
        until(lambda: "stopping" in (tmp_path / "agent.log").read_text(), 30, "the first stop")
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    finally:
        stop(worker)
    log = (tmp_path / "agent.log").read_text()
    assert worker.returncode == 128 + signal.SIGTERM, log[-3000:]
    assert "stopped at once: the tasks held go back to the queue" in log
    assert "agent stranded stopped" not in log  # it did not wait for the slow task
