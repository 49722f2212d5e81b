"""Agents that reach the hub over HTTP only: no store of their own, the run's commit, scoped tokens.

The hub and the warehouse are the test PostgreSQL's; each agent's checkout names a
metadata store it cannot reach (a closed port), so a run that finishes proves the agent
read and wrote the store only through the hub.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from headgate import Project
from headgate.runtime.agent import Agent
from headgate.runtime.agent_http import HttpTransport
from headgate.runtime.hub_store import encode
from headgate.state.records import TaskRecord
from tests.server.hubs import ADMIN, admin_token, git, running_hub
from tests.server.test_agents import (
    API,
    FILES,
    agent_process,
    deployments,
    finished,
    headers,
    queue_of,
    run_of,
    start_run,
    stop,
    until,
)
from tests.support import write_project

pytestmark = pytest.mark.services

ENV = "staging"
UNREACHABLE = "postgresql://headgate@127.0.0.1:1/test"  # nothing listens on port 1


def config(postgres_url: str, prefix: str, state: str, schema: str) -> str:
    return (
        "name: agents_test\n"
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {prefix}}}\n"
        f"state_url: '{state}'\n"
        f"state_schema: {schema}\n"
    )


@pytest.fixture
def hub_project(tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str) -> Path:
    text = config(postgres_url, pg_prefix, postgres_url, pg_schema)
    return write_project(tmp_path / "hub", FILES, config=text)


@pytest.fixture
def site(tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str) -> Path:
    """An agent's checkout: the same models and engine, a store it cannot reach."""
    text = config(postgres_url, pg_prefix, UNREACHABLE, pg_schema)
    return write_project(tmp_path / "site", FILES, config=text)


@contextmanager
def agent_in_thread(
    url: str, root: Path, name: str, token: str | None = None, *, prefetch: int = 0
) -> Iterator[None]:
    stop_it = threading.Event()
    secret = token or headers(url)["Authorization"][7:]
    transport = HttpTransport(url, token=secret, wait=1.0, prefetch=prefetch)
    agent = Agent(name, root, transport, lease=timedelta(seconds=10), poll=0)
    thread = threading.Thread(target=agent.run, args=(stop_it,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop_it.set()
        thread.join(timeout=60)
        transport.close()


def test_an_agent_whose_checkout_cannot_reach_the_store_finishes_a_run_through_the_hub(
    hub_project: Path, site: Path, tmp_path: Path
) -> None:
    with running_hub(hub_project) as url:
        run_id = start_run(url, environment=ENV, labels={"site": "eu"})
        worker = agent_process(url, site, "walled", tmp_path / "walled.log", lease=5)
        try:
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
            run = run_of(url, run_id)
            queued = queue_of(url, run_id)
        finally:
            stop(worker)
    log = (tmp_path / "walled.log").read_text()
    assert run["status"] == "success" and run["published"], (run, log[-3000:])
    assert {t["agent"] for t in queued["tasks"]} == {"walled"}
    tasks = {t["name"]: t for t in run["tasks"]}
    assert tasks["marts.total"]["status"] == "built" and tasks["marts.total"]["rows"] == 1
    assert tasks["marts.report"]["started_at"] >= tasks["marts.slow"]["ended_at"]
    assert "127.0.0.1:1" not in log and "Traceback" not in log
    assert deployments(hub_project, run_id) == 1
    with Project.load(hub_project) as loaded:
        assert loaded.query("select n, total from marts.report", environment=ENV).to_pylist() == [
            {"n": 1000, "total": 499500}
        ]
        physical = loaded.state.physical_tables()
    assert any(r.model == "marts.total" and r.run_id == run_id for r in physical.values())


def test_a_stale_lease_writes_nothing_and_a_lease_writes_only_its_own_task(
    hub_project: Path,
) -> None:
    with running_hub(hub_project) as url:
        client = httpx.Client(base_url=url + API, headers=headers(url), timeout=30)
        assert client.post("/agents", json={"name": "hand", "labels": {}}).status_code == 200
        run_id = start_run(url, environment=ENV)
        taken = client.post("/agents/hand/claim", json={"lease_seconds": 2, "wait_seconds": 30})
        work = taken.json()
        lease = work["lease"]
        context = work["context"]

        def record(name: str, run: int) -> TaskRecord:
            stamp = datetime.now(UTC)
            return TaskRecord(run, name, "model", "built", "f", started_at=stamp, ended_at=stamp)

        def write(method: str, *args: object) -> httpx.Response:
            body = {"fence": lease["fence"], "writes": [[method, encode(list(args))]]}
            return client.post(f"/agents/tasks/{lease['id']}/store/write", json=body)

        other_task = write("record_tasks", [record("marts.total", run_id)])
        other_run = write("record_tasks", [record(lease["task"], run_id + 1000)])
        not_allowed = write("drop_physical", ["x"])
        read = client.post(
            f"/agents/tasks/{lease['id']}/store/read",
            json={"fence": lease["fence"], "method": "stored_secrets", "args": []},
        )
        time.sleep(2.5)  # the lease ends and the task goes to another agent: the token is stale
        assert client.post("/agents", json={"name": "next", "labels": {}}).status_code == 200
        again = client.post("/agents/next/claim", json={"lease_seconds": 30, "wait_seconds": 30})
        late = client.post(
            f"/agents/tasks/{lease['id']}/complete",
            json={
                "fence": lease["fence"],
                "ok": True,
                "writes": [["record_tasks", encode([[record(lease["task"], run_id)]])]],
            },
        )
        tasks = {t["name"]: t for t in run_of(url, run_id)["tasks"]}
        client.close()
    assert lease["task"] == "raw.numbers" and context["plan"] is not None
    assert other_task.status_code == 403 and "cannot write record_tasks" in other_task.text
    assert other_run.status_code == 403
    assert not_allowed.status_code >= 400 and "'drop_physical'" in not_allowed.text
    assert read.status_code >= 400 and "'stored_secrets'" in read.text
    assert again.json()["lease"]["task"] == lease["task"]
    assert late.status_code == 409
    assert tasks["raw.numbers"]["status"] != "built"  # nothing of the stale result applied


def test_a_store_method_agents_cannot_reach_is_named() -> None:
    from headgate.errors import HeadgateError
    from headgate.runtime.hub_store import HubStore

    store = HubStore(lambda m, a: None, lambda w: None)
    with pytest.raises(HeadgateError, match="'acquire_lock'"):
        store.acquire_lock("x")


def token(root: Path, name: str, environments: list[str]) -> str:
    admin_token(root, "setup")  # the administrator who owns the tokens
    with Project.load(root) as project:
        return project.create_token(name, ["agent"], environments, owner=ADMIN)


def test_an_agent_token_scoped_to_dev_never_takes_a_prod_task_nor_its_secrets(
    hub_project: Path, site: Path
) -> None:
    from headgate.security.vault import Vault

    with Project.load(hub_project) as loaded:
        vault = Vault(loaded.state, hub_project)
        vault.set("WAREHOUSE_TOKEN", "dev-value", environment="dev-ann", by="t")
        vault.set("WAREHOUSE_TOKEN", "prod-value", environment="prod-eu", by="t")
    dev, prod = (
        token(hub_project, "dev-agent", ["dev-*"]),
        token(hub_project, "prod-agent", ["prod-*"]),
    )
    with running_hub(hub_project) as url:
        prod_run = start_run(url, environment="prod-eu", select="raw.numbers")
        dev_run = start_run(url, environment="dev-ann", select="raw.numbers marts.total")
        with agent_in_thread(url, site, "dev-1", dev):
            until(lambda: finished(url, dev_run), 120, f"run {dev_run} to finish")
        untouched = queue_of(url, prod_run)["tasks"]
        dev_client = httpx.Client(
            base_url=url + API, headers={"Authorization": f"Bearer {dev}"}, timeout=30
        )
        dev_client.post("/agents", json={"name": "dev-2", "labels": {}})
        dev_claim = dev_client.post("/agents/dev-2/claim", json={"wait_seconds": 1})
        prod_client = httpx.Client(
            base_url=url + API, headers={"Authorization": f"Bearer {prod}"}, timeout=30
        )
        prod_client.post("/agents", json={"name": "prod-1", "labels": {}})
        prod_claim = prod_client.post("/agents/prod-1/claim", json={"wait_seconds": 5})
        dev_client.close()
        prod_client.close()
        dev_done = run_of(url, dev_run)
    assert dev_done["status"] == "success" and dev_done["published"]
    assert [(t["state"], t["agent"]) for t in untouched] == [("queued", None)]
    assert dev_claim.status_code == 204  # the prod task waits; the dev token never gets it
    work = prod_claim.json()
    assert work["environment"] == "prod-eu" and work["lease"]["task"] == "raw.numbers"
    assert work["secrets"] == {"WAREHOUSE_TOKEN": "prod-value"}


def commit_all(root: Path, message: str) -> str:
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def test_an_agent_builds_at_the_runs_commit_fetching_it_once_and_names_a_missing_one(
    hub_project: Path, tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    (hub_project / ".gitignore").write_text(".headgate/\n")
    git(hub_project, "init", "-q", "-b", "main")
    commit_all(hub_project, "first")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(hub_project), str(clone))
    (clone / "headgate.yml").write_text(config(postgres_url, pg_prefix, UNREACHABLE, pg_schema))
    # the hub moves on: the run is planned at a commit the clone has not fetched yet
    total = "select sum(n) + 1 as total, count(*) as rows from raw.numbers"
    (hub_project / "models/marts/total.sql").write_text(total)
    planned_at = commit_all(hub_project, "total plus one")
    stranger = write_project(
        tmp_path / "stranger", FILES, config=config(postgres_url, pg_prefix, UNREACHABLE, pg_schema)
    )
    git(stranger, "init", "-q", "-b", "main")
    commit_all(stranger, "unrelated")
    select = "raw.numbers marts.total"
    with running_hub(hub_project) as url:
        run_id = start_run(url, environment=ENV, select=select)
        with agent_in_thread(url, clone, "clone-1"):
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
        run = run_of(url, run_id)
        (hub_project / "models/marts/total.sql").write_text(total.replace("+ 1", "+ 2"))
        commit_all(hub_project, "total plus two")
        failing = start_run(url, environment="other", select=select)
        with agent_in_thread(url, stranger, "stranger-1"):
            until(lambda: finished(url, failing), 120, f"run {failing} to end")
        failed = run_of(url, failing)
        said = [line["line"] for line in queue_of(url, failing)["output"]]
    assert run["git_commit"] == planned_at and run["status"] == "success", run
    assert git(clone, "rev-parse", "HEAD").strip() != planned_at  # its work tree stayed
    with Project.load(hub_project) as loaded:
        rows = loaded.query("select total from marts.total", environment=ENV).to_pylist()
    assert rows == [{"total": 499501}]
    assert failed["status"] == "failed" and not failed["published"]
    missing = [line for line in said if "does not have" in line]
    assert missing and failed["git_commit"] in missing[0]


def test_an_agent_keeping_a_task_in_hand_keeps_dag_order_and_reports_every_result(
    hub_project: Path, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "1")
    with running_hub(hub_project) as url:
        run_id = start_run(url, environment=ENV)
        with agent_in_thread(url, site, "in-hand-1", prefetch=1):
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
        run = run_of(url, run_id)
        queued = queue_of(url, run_id)
    assert run["status"] == "success" and run["published"], run
    assert {(t["state"], t["agent"], t["attempts"]) for t in queued["tasks"]} == {
        ("done", "in-hand-1", 1)
    }
    tasks = {t["name"]: t for t in run["tasks"]}
    assert tasks["marts.report"]["started_at"] >= tasks["marts.slow"]["ended_at"]
    assert tasks["marts.total"]["started_at"] >= tasks["raw.numbers"]["ended_at"]
    assert deployments(hub_project, run_id) == 1


def test_a_step_on_an_agent_records_its_end_through_the_hub_at_once(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    files = {
        **FILES,
        "steps/mark.yml": 'shell: "echo marked"\nupstream: [raw.numbers]\ndownstream: [marts.total]\n',
    }
    hub_root = write_project(
        tmp_path / "hub", files, config=config(postgres_url, pg_prefix, postgres_url, pg_schema)
    )
    site_root = write_project(
        tmp_path / "site", files, config=config(postgres_url, pg_prefix, UNREACHABLE, pg_schema)
    )
    with running_hub(hub_root) as url:
        run_id = start_run(url, environment=ENV, select="raw.numbers steps.mark marts.total")
        with agent_in_thread(url, site_root, "stepper"):
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
        run = run_of(url, run_id)
    tasks = {t["name"]: t for t in run["tasks"]}
    assert run["status"] == "success" and run["published"], run
    assert tasks["steps.mark"]["status"] == "built"
    assert tasks["marts.total"]["started_at"] >= tasks["steps.mark"]["ended_at"]


def test_a_result_with_a_ready_task_waiting_brings_it_at_once_and_is_applied_after(
    hub_project: Path,
) -> None:
    with running_hub(hub_project) as url:
        client = httpx.Client(base_url=url + API, headers=headers(url), timeout=30)
        assert client.post("/agents", json={"name": "hand", "labels": {}}).status_code == 200
        run_id = start_run(url, environment=ENV)

        def claim() -> dict[str, Any]:
            taken = client.post("/agents/hand/claim", json={"wait_seconds": 30})
            assert taken.status_code == 200, taken.text
            lease: dict[str, Any] = taken.json()["lease"]
            return lease

        def complete(lease: dict[str, Any], task: str, **more: Any) -> httpx.Response:
            stamp = datetime.now(UTC)
            record = TaskRecord(run_id, task, "model", "built", "f", started_at=stamp)
            body = {"fence": lease["fence"], "ok": True, "agent": "hand", **more}
            body["writes"] = [["record_tasks", encode([[record]])]]
            return client.post(f"/agents/tasks/{lease['id']}/complete", json=body)

        first = claim()
        assert complete(first, first["task"]).json()["applied"] is True  # no next asked
        held = claim()  # marts.total or marts.slow: both wait for nothing now
        other = ({"marts.total", "marts.slow"} - {held["task"]}).pop()
        meddling = complete(held, other, next_lease_seconds=30)
        not_taken = {t["task"]: t["state"] for t in queue_of(url, run_id)["tasks"]}
        done = complete(held, held["task"], next_lease_seconds=30)
        until(lambda: state_of(url, run_id, held["task"]) == "done", 60, "the result applied")
        again = complete(held, held["task"], next_lease_seconds=30)
        states = {t["task"]: t for t in queue_of(url, run_id)["tasks"]}
        tasks = {t["name"]: t for t in run_of(url, run_id)["tasks"]}
        client.close()
    assert meddling.status_code == 403 and not_taken[other] == "queued"  # nothing taken
    answer = done.json()
    assert done.status_code == 200 and answer["accepted"] and answer["applied"] is False
    assert answer["next"]["lease"]["task"] == other and states[other]["state"] == "leased"
    assert answer["next"]["context"]["upstream"]  # what its upstream task ended with
    assert tasks[held["task"]]["status"] == "built"  # the writes came with the result
    assert again.status_code == 409  # a result applied once; none taken with the stale one
    assert states["marts.report"]["state"] == "waiting"


def state_of(url: str, run_id: int, task: str) -> str:
    return next(t["state"] for t in queue_of(url, run_id)["tasks"] if t["task"] == task)


def test_a_claim_waiting_for_work_wakes_at_a_result_and_never_misses_one_rung_before() -> None:
    import asyncio

    from headgate.server.task_ends import QueueBell

    bell = QueueBell()

    async def scenario() -> None:
        mark = bell.mark()
        waiting = asyncio.create_task(bell.wait(mark, 3600))
        await asyncio.sleep(0)  # it waits now
        threading.Thread(target=bell.ring).start()  # a result, in a worker thread
        await asyncio.wait_for(waiting, 60)  # the timeout only stops a hang
        await asyncio.wait_for(bell.wait(mark, 3600), 60)  # rung since the mark: no wait

    # on a thread of its own, as the hub's event loop is: this test process may already run
    # a loop on its main thread (the browser tests' Playwright keeps one for the session)
    failures: list[BaseException] = []

    def on_its_loop() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:
            failures.append(exc)

    loop_thread = threading.Thread(target=on_its_loop)
    loop_thread.start()
    loop_thread.join(120)  # only stops a hang
    assert not loop_thread.is_alive() and failures == []
