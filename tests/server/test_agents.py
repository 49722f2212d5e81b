"""Agents pull a run's tasks from the hub over HTTP: sites, leases, stale results, real faults.

The warehouse and the metadata store are the test PostgreSQL's (the team set-up: the hub
and the agents of a site reach the same engine), so agents build while the hub serves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from headgate import Project
from headgate.runtime.agent import Agent
from headgate.runtime.agent_http import HttpTransport
from tests.server.hubs import auth, free_port, running_hub
from tests.support import write_project

pytestmark = pytest.mark.services

API = "/api/v1"
ENV = "staging"  # prod takes no run but a deploy
HEADERS: dict[str, dict[str, str]] = {}  # hubs started as processes: their admin's token
REPOSITORY = Path(__file__).resolve().parents[2]
SLOW_SECONDS = 4.0

FILES = {
    "models/raw/numbers.sql": "select i as n from range(1000) t(i)",
    "models/marts/total.sql": "select sum(n) as total, count(*) as rows from raw.numbers",
    "models/marts/slow.py": f"""
        import time

        def model(ctx):
            time.sleep(float(__import__("os").environ.get("SLOW_SECONDS", "{SLOW_SECONDS}")))
            return ctx.sql("select count(*) as n from raw.numbers")
    """,
    "models/marts/report.sql": "select s.n, t.total from marts.slow s, marts.total t",
}


def make_project(root: Path, postgres_url: str, schema: str, prefix: str) -> Path:
    config = (
        "name: agents_test\n"
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {prefix}}}\n"
        f"state_url: '{postgres_url}'\n"
        f"state_schema: {schema}\n"
    )
    return write_project(root, FILES, config=config)


@pytest.fixture
def project(tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str) -> Path:
    return make_project(tmp_path / "project", postgres_url, pg_schema, pg_prefix)


def headers(url: str) -> dict[str, str]:
    return HEADERS.get(url) or auth(url)


def admin_token(root: Path, url: str) -> str:
    """An administrator's token for a hub started as a process (none while the hub asks
    for none)."""
    from tests.server import hubs

    make = getattr(hubs, "admin_token", None)
    return str(make(root, f"agents-{url.rsplit(':', 1)[-1]}")) if make else ""


def start_run(url: str, **body: Any) -> int:
    answer = httpx.post(f"{url}{API}/queue/runs", json=body, headers=headers(url), timeout=30)
    assert answer.status_code == 202, answer.text
    run_id: int = answer.json()["run_id"]
    return run_id


def run_of(url: str, run_id: int) -> dict[str, Any]:
    answer = httpx.get(f"{url}{API}/runs/{run_id}", headers=headers(url), timeout=30)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def queue_of(url: str, run_id: int) -> dict[str, Any]:
    answer = httpx.get(f"{url}{API}/queue/runs/{run_id}", headers=headers(url), timeout=30)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def until(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds  # only stops a hang
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        time.sleep(0.1)


def finished(url: str, run_id: int) -> bool:
    try:
        return run_of(url, run_id)["status"] not in ("running", "queued")
    except (httpx.HTTPError, AssertionError):
        return False


@contextmanager
def agents_in_threads(
    url: str, root: Path, *specs: tuple[str, dict[str, str]], lease: float = 10, prefetch: int = 0
) -> Iterator[None]:
    stop = threading.Event()
    transports = []
    threads = []
    for name, labels in specs:
        token = headers(url).get("Authorization", "")[7:]
        transport = HttpTransport(url, token=token, wait=1.0, prefetch=prefetch)
        transports.append(transport)
        agent = Agent(name, root, transport, labels=labels, lease=timedelta(seconds=lease), poll=0)
        threads.append(threading.Thread(target=agent.run, args=(stop,), daemon=True))
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        for transport in transports:
            transport.close()


def deployments(root: Path, run_id: int) -> int:
    with Project.load(root) as project:
        return len([d for d in project.deployments(ENV) if d.run_id == run_id])


def test_a_run_spanning_two_sites_goes_to_each_sites_agents_in_dag_order(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0")
    with (
        running_hub(project, ui=True) as url,
        agents_in_threads(
            url, project, ("eu-1", {"site": "eu-west"}), ("us-1", {"site": "us-east"})
        ),
    ):
        run_id = start_run(
            url,
            environment=ENV,
            labels={},
            sites=[
                {"select": "raw.numbers", "labels": {"site": "eu-west"}},
                {"select": "marts.*", "labels": {"site": "us-east"}},
            ],
        )
        until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
        run = run_of(url, run_id)
        queued = queue_of(url, run_id)
        listed = httpx.get(f"{url}{API}/agents", headers=headers(url), timeout=30).json()
        page = httpx.get(f"{url}/agents", headers=headers(url), timeout=30)
        run_page = httpx.get(f"{url}/agents/runs/{run_id}", headers=headers(url), timeout=30)
    assert run["status"] == "success" and run["published"], run
    where = {t["task"]: t["agent"] for t in queued["tasks"]}
    assert where == {
        "raw.numbers": "eu-1",
        "marts.total": "us-1",
        "marts.slow": "us-1",
        "marts.report": "us-1",
    }
    times = {t["name"]: t for t in run["tasks"]}
    for downstream in ("marts.total", "marts.slow"):
        assert times[downstream]["started_at"] >= times["raw.numbers"]["ended_at"]
    assert times["marts.report"]["started_at"] >= times["marts.slow"]["ended_at"]
    said = [line["line"] for line in queued["output"] if line["task"] == "marts.total"]
    assert said[0] == "taken by us-1 (attempt 1)" and said[-1].startswith("built, 1 rows")
    health = {a["name"]: (a["health"], a["labels"]) for a in listed["items"]}
    assert health == {
        "eu-1": ("healthy", {"site": "eu-west"}),
        "us-1": ("healthy", {"site": "us-east"}),
    }
    assert page.status_code == 200 and 'data-agent="eu-1"' in page.text
    assert "site=us-east" in page.text and "healthy" in page.text
    assert run_page.status_code == 200 and "taken by us-1 (attempt 1)" in run_page.text
    assert deployments(project, run_id) == 1
    with Project.load(project) as loaded:
        assert loaded.query("select n, total from marts.report", environment=ENV).to_pylist() == [
            {"n": 1000, "total": 499500}
        ]


def test_an_agent_cut_off_past_its_lease_is_refused_and_the_task_runs_elsewhere_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headgate.security.vault import Vault

    monkeypatch.setenv("SLOW_SECONDS", "0")
    with Project.load(project) as loaded:
        Vault(loaded.state, project).set("WAREHOUSE_TOKEN", "s3cr3t-value", environment=ENV, by="t")
    with running_hub(project) as url:
        signed = headers(url)
        client = httpx.Client(base_url=url + API, headers=signed, timeout=30)
        cut_off = {"name": "cut-off", "labels": {"site": "eu"}, "capacity": 1}
        assert client.post("/agents", json=cut_off).status_code == 200
        run_id = start_run(url, environment=ENV, labels={"site": "eu"})
        taken = client.post("/agents/cut-off/claim", json={"lease_seconds": 1, "wait_seconds": 30})
        assert taken.status_code == 200, taken.text
        work = taken.json()
        lease = work["lease"]
        assert lease["task"] == "raw.numbers" and work["environment"] == ENV
        assert work["secrets"] == {"WAREHOUSE_TOKEN": "s3cr3t-value"}
        time.sleep(1.5)  # cut off: no heartbeat for longer than the lease
        with agents_in_threads(url, project, ("healthy", {"site": "eu"})):
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
        beat = client.post(
            f"/agents/tasks/{lease['id']}/heartbeat", json={"fence": lease["fence"]}
        ).json()
        late = client.post(
            f"/agents/tasks/{lease['id']}/complete", json={"fence": lease["fence"], "ok": True}
        )
        late_output = client.post(
            f"/agents/tasks/{lease['id']}/output", json={"fence": lease["fence"], "lines": ["x"]}
        )
        queued = queue_of(url, run_id)
        run = run_of(url, run_id)
        client.close()
    assert beat == {"held": False, "lost": True, "cancel": False}
    assert late.status_code == 409 and "no longer held" in late.json()["detail"]
    assert late_output.status_code == 409
    numbers = next(t for t in queued["tasks"] if t["task"] == "raw.numbers")
    assert (numbers["state"], numbers["agent"], numbers["attempts"]) == ("done", "healthy", 2)
    assert run["status"] == "success" and run["published"]
    assert deployments(project, run_id) == 1
    assert not [line for line in queued["output"] if "s3cr3t" in line["line"]]


def test_a_task_that_fails_on_its_agent_fails_the_run_which_publishes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0")
    (project / "models/marts/total.sql").write_text(
        "select cast('not a number' as integer) as total from raw.numbers"
    )
    with running_hub(project) as url, agents_in_threads(url, project, ("eu-1", {})):
        run_id = start_run(url, environment=ENV)
        until(lambda: finished(url, run_id), 120, f"run {run_id} to end")
        run = run_of(url, run_id)
        queued = queue_of(url, run_id)
    states = {t["task"]: t["state"] for t in queued["tasks"]}
    assert run["status"] == "failed" and not run["published"]
    assert "marts.total" in run["error"]
    assert states["marts.report"] == "cancelled"  # downstream of the failure: never run
    assert deployments(project, run_id) == 0


def test_two_runs_for_agents_go_on_at_once_and_the_hub_takes_other_writes_meanwhile(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "3")
    with (
        running_hub(project) as url,
        agents_in_threads(url, project, ("a-1", {}), ("a-2", {})),
    ):
        long_run = start_run(url, environment=ENV)
        until(lambda: leased_by(url, long_run, "marts.slow") is not None, 120, "the slow task")
        short_run = start_run(url, environment="other", select="raw.numbers marts.total")
        until(lambda: finished(url, short_run), 60, f"run {short_run} beside the long one")
        long_state = run_of(url, long_run)["status"]
        until(lambda: finished(url, long_run), 120, f"run {long_run} to finish")
        short, long = run_of(url, short_run), run_of(url, long_run)
    assert long_state == "running"  # the short run ended while the long one went on
    assert short["status"] == "success" and short["published"], short
    assert long["status"] == "success" and long["published"], long


def test_a_result_brings_the_next_task_and_a_stopping_agent_gives_it_back(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0")
    with running_hub(project) as url:
        run_id = start_run(url, environment=ENV)
        transport = HttpTransport(url, token=headers(url).get("Authorization", "")[7:], wait=5)
        first = transport.claim("solo", {}, timedelta(seconds=30))
        assert first is not None and first.lease.task == "raw.numbers"
        assert transport.complete(first.lease, ok=True, error=None, lines=["done by hand"])
        tasks = {t["task"]: t for t in queue_of(url, run_id)["tasks"]}
        ahead = [name for name, t in tasks.items() if t["state"] == "leased"]
        assert len(ahead) == 1 and tasks[ahead[0]]["agent"] == "solo"  # taken with the result
        transport.close()  # stopping before it began: the task goes back, attempt uncounted
        after = {t["task"]: t for t in queue_of(url, run_id)["tasks"]}
    assert (after[ahead[0]]["state"], after[ahead[0]]["attempts"]) == ("queued", 0)
    assert after["raw.numbers"]["state"] == "done"


def agent_process(
    url: str, root: Path, name: str, log: Path, *, lease: int = 2
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "headgate.cli.main", "-p", str(root), "agent", "--hub", url]
    command += ["--labels", "site=eu", "--name", name, "--lease", str(lease), "--wait", "1"]
    token = headers(url).get("Authorization", "")[7:]
    env = {**os.environ, "SLOW_SECONDS": str(SLOW_SECONDS)} | (
        {"HEADGATE_TOKEN": token} if token else {}
    )
    with open(log, "wb") as output:
        return subprocess.Popen(
            command, cwd=REPOSITORY, env=env, stdout=output, stderr=subprocess.STDOUT
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def leased_by(url: str, run_id: int, task: str) -> str | None:
    try:
        tasks = queue_of(url, run_id)["tasks"]
    except (httpx.HTTPError, AssertionError):
        return None
    found = next((t for t in tasks if t["task"] == task), None)
    return found["agent"] if found and found["state"] == "leased" else None


@pytest.mark.slow
def test_an_agent_killed_mid_task_is_replaced_within_its_lease_and_the_run_publishes_once(
    project: Path, tmp_path: Path
) -> None:
    lease = 2
    with running_hub(project) as url:
        run_id = start_run(url, environment=ENV, labels={"site": "eu"})
        doomed = agent_process(url, project, "doomed", tmp_path / "doomed.log", lease=lease)
        rescuer: subprocess.Popen[bytes] | None = None
        try:
            until(lambda: leased_by(url, run_id, "marts.slow") == "doomed", 120, "doomed's task")
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait()
            killed_at = time.monotonic()
            rescuer = agent_process(url, project, "rescuer", tmp_path / "rescuer.log", lease=lease)
            until(
                lambda: leased_by(url, run_id, "marts.slow") == "rescuer" or finished(url, run_id),
                lease + 10,
                "the rescuer to take the task over",
            )
            taken_after = time.monotonic() - killed_at
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
            queued = queue_of(url, run_id)
            run = run_of(url, run_id)
        finally:
            stop(doomed)
            if rescuer is not None:
                stop(rescuer)
    assert taken_after <= lease + 10
    slow = next(t for t in queued["tasks"] if t["task"] == "marts.slow")
    assert (slow["state"], slow["agent"], slow["attempts"]) == ("done", "rescuer", 2)
    assert run["status"] == "success" and run["published"], run
    assert deployments(project, run_id) == 1
    with Project.load(project) as loaded:
        assert loaded.query(
            "select count(*) as c from marts.report", environment=ENV
        ).to_pylist() == [{"c": 1}]
        assert loaded.query("select rows from marts.total", environment=ENV).to_pylist() == [
            {"rows": 1000}
        ]


@contextmanager
def hub_process(root: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "headgate.cli.main", "-p", str(root), "serve"]
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning"],
            cwd=REPOSITORY,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _answers(url), 60, f"the hub on {url} (log: {log})")
        yield process
    finally:
        stop(process)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}{API}/project", headers=headers(url), timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_agents_reconnect_after_the_hub_restarts_mid_run_and_the_run_finishes(
    project: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "hub.log"
    token = admin_token(project, url)
    HEADERS[url] = {"Authorization": f"Bearer {token}"} if token else {}
    worker = agent_process(url, project, "steady", tmp_path / "agent.log", lease=5)
    try:
        with hub_process(project, port, log) as hub:
            run_id = start_run(url, environment=ENV, labels={"site": "eu"})
            until(lambda: leased_by(url, run_id, "marts.slow") == "steady", 120, "a task underway")
            os.kill(hub.pid, signal.SIGKILL)
            hub.wait()
        time.sleep(1.0)  # the agent's heartbeat finds no hub
        with hub_process(project, port, log):
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish after the restart")
            run = run_of(url, run_id)
            queued = queue_of(url, run_id)
    finally:
        stop(worker)
    assert run["status"] == "success" and run["published"], (run, log.read_text()[-3000:])
    assert {t["state"] for t in queued["tasks"]} == {"done"}
    assert {t["agent"] for t in queued["tasks"]} == {"steady"}
    assert deployments(project, run_id) == 1
