"""Agents that keep tasks in hand (--prefetch): results and tasks in batches, one call each.

The same project and hub as tests/server/test_agents.py (the test PostgreSQL is both the
warehouse and the metadata store).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from headgate import Project
from tests.server.hubs import running_hub
from tests.server.test_agents import (
    API,
    ENV,
    agents_in_threads,
    deployments,
    finished,
    headers,
    queue_of,
    run_of,
    start_run,
    until,
)

pytestmark = pytest.mark.services


@pytest.fixture
def project(tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str) -> Path:
    from tests.server.test_agents import make_project

    return make_project(tmp_path / "project", postgres_url, pg_schema, pg_prefix)


def exchange(url: str, agent: str, **body: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}{API}/agents/{agent}/exchange", json=body, headers=headers(url), timeout=30
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def register(url: str, agent: str) -> None:
    body = {"name": agent, "labels": {}, "capacity": 1}
    answer = httpx.post(f"{url}{API}/agents", json=body, headers=headers(url), timeout=30)
    assert answer.status_code == 200, answer.text


def test_agents_keeping_tasks_in_hand_carry_a_run_out_once_and_publish_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0")
    with (
        running_hub(project) as url,
        agents_in_threads(url, project, ("batch-0", {}), ("batch-1", {}), prefetch=3),
    ):
        run_id = start_run(url, environment=ENV)
        until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
        run = run_of(url, run_id)
        queued = queue_of(url, run_id)
    assert run["status"] == "success" and run["published"], run
    tasks = {t["task"]: t for t in queued["tasks"]}
    assert {name: (t["state"], t["attempts"]) for name, t in tasks.items()} == {
        name: ("done", 1) for name in ("raw.numbers", "marts.total", "marts.slow", "marts.report")
    }
    said = [line["line"] for line in queued["output"] if line["task"] == "marts.report"]
    assert said[0].startswith("taken by batch-") and said[-1].startswith("built, 1 rows")
    assert deployments(project, run_id) == 1
    with Project.load(project) as loaded:
        assert loaded.query("select n, total from marts.report", environment=ENV).to_pylist() == [
            {"n": 1000, "total": 499500}
        ]


def test_one_call_reports_results_refuses_a_stale_one_alone_and_takes_the_tasks_made_ready(
    project: Path,
) -> None:
    with running_hub(project) as url:
        register(url, "by-hand")
        run_id = start_run(url, environment=ENV)
        until(lambda: queue_of(url, run_id)["tasks"], 60, "the run's tasks to be queued")
        first = exchange(url, "by-hand", want=4, wait_seconds=10)
        assert [t["lease"]["task"] for t in first["tasks"]] == ["raw.numbers"]  # the only one ready
        lease = first["tasks"][0]["lease"]
        done = {"lease_id": lease["id"], "fence": lease["fence"], "ok": True, "lines": ["by hand"]}
        stale = {"lease_id": lease["id"], "fence": lease["fence"] + 7, "ok": True}
        second = exchange(url, "by-hand", results=[stale, done], want=4)
        taken = sorted(t["lease"]["task"] for t in second["tasks"])
        in_hand = [
            {"lease_id": t["lease"]["id"], "fence": t["lease"]["fence"]} for t in second["tasks"]
        ]
        lost = {"lease_id": in_hand[0]["lease_id"], "fence": in_hand[0]["fence"] + 1}
        third = exchange(url, "by-hand", held=[*in_hand, lost])
        tasks = {t["task"]: t for t in queue_of(url, run_id)["tasks"]}
    assert [r["accepted"] for r in second["results"]] == [False, True]
    assert (
        second["results"][0]["status"] == 409 and "no longer held" in second["results"][0]["error"]
    )
    assert taken == ["marts.slow", "marts.total"]  # raw.numbers' result made both ready
    assert [h["held"] for h in third["held"]] == [True, True, False]
    assert tasks["raw.numbers"]["state"] == "done"
    assert {tasks[name]["agent"] for name in taken} == {"by-hand"}
    assert tasks["marts.report"]["state"] == "waiting"


def test_an_agent_keeps_no_task_in_hand_while_another_agent_waits_for_work(
    project: Path,
) -> None:
    with running_hub(project) as url:
        register(url, "hoarder")
        register(url, "idle")
        run_id = start_run(url, environment=ENV)
        until(lambda: queue_of(url, run_id)["tasks"], 60, "the run's tasks to be queued")
        first = exchange(url, "hoarder", want=4, free=1, wait_seconds=10)
        lease = first["tasks"][0]["lease"]
        claimed: list[httpx.Response] = []
        body = {"lease_seconds": 30, "wait_seconds": 30}
        waiting = threading.Thread(
            target=lambda: claimed.append(
                httpx.post(
                    f"{url}{API}/agents/idle/claim", json=body, headers=headers(url), timeout=60
                )
            )
        )
        waiting.start()
        time.sleep(2.0)  # the idle agent's claim is waiting at the hub by then
        done = {"lease_id": lease["id"], "fence": lease["fence"], "ok": True}
        second = exchange(url, "hoarder", results=[done], want=4, free=1)
        waiting.join(timeout=60)
    assert len(second["tasks"]) == 1  # one for its idle slot, none to keep in hand
    assert claimed and claimed[0].status_code == 200  # the other ready task went to it
    assert {second["tasks"][0]["lease"]["task"], claimed[0].json()["lease"]["task"]} == {
        "marts.total",
        "marts.slow",
    }
