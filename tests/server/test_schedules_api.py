"""Schedules and file triggers through the hub: listed with their next slots, paused and
resumed, a run started by an API call, and a run started by a new file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.hubs import auth, running_hub
from tests.support import write_project

pytestmark = pytest.mark.fast  # the tests of runs for agents need PostgreSQL (services)

CONFIG = """
name: shop
security: {protected: []}  # API calls may start runs in prod here (triggers start them anyway)
schedules:
  - {name: nightly, cron: '0 2 * * *', timezone: Europe/Paris, environment: dev}
triggers:
  - {name: new_orders, files: shop.orders, environment: prod}
"""

FILES = {
    "data/orders_1.csv": "id,amount\n1,10\n2,20\n",
    "sources/shop.yml": """
        type: files
        tables:
          orders: {path: data/orders_*.csv, format: csv}
    """,
    "models/totals.sql": "select count(*) as orders, sum(amount) as amount from shop.orders",
}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    from headgate import Project

    root = write_project(tmp_path / "shop", FILES, config=CONFIG)
    with Project.load(root) as project:
        assert project.run().ok
    with running_hub(root, ui=True) as url:
        yield url, root


@pytest.fixture
def on_postgres(postgres_url: str, pg_schema: str, pg_prefix: str) -> str:
    """headgate.yml's lines for a warehouse and a store in the test PostgreSQL: runs for
    agents need a warehouse that agents can build into while the hub holds it."""
    return (
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {pg_prefix}}}\n"
        f"state_url: '{postgres_url}'\nstate_schema: {pg_schema}\n"
    )


def _until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        time.sleep(0.1)


def _finished_run(api: httpx.Client, run_id: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = api.get(f"/runs/{run_id}").json()
        return run if run.get("status") not in (None, "running", "queued") else None

    found: dict[str, Any] = _until(done, 60, f"run {run_id} to finish")
    return found


def test_schedules_are_listed_paused_resumed_and_triggered(hub: tuple[str, Path]) -> None:
    url, _ = hub
    with httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=60) as api:
        listed = _until(
            lambda: (body := api.get("/schedules").json())["scheduled_here"] and body,
            30,
            "the only hub to lead the schedules",
        )
        by_name = {s["name"]: s for s in listed["items"]}
        nightly = by_name["nightly"]
        assert nightly["cron"] == "0 2 * * *" and nightly["paused"] is False
        assert len(nightly["next_slots"]) == 3
        assert {s[11:19] for s in nightly["next_slots"]} <= {"00:00:00", "01:00:00"}  # 02:00 Paris
        assert by_name["new_orders"]["kind"] == "files"
        assert by_name["new_orders"]["files"] == "shop.orders"

        assert api.post("/schedules/nightly/pause").json()["paused"] is True
        assert api.get("/schedules/nightly").json()["paused"] is True
        assert api.post("/schedules/nightly/resume").json()["paused"] is False

        started = api.post("/schedules/nightly/trigger")
        assert started.status_code == 202
        run_id = started.json()["run_id"]
        assert started.headers["location"] == f"/api/v1/runs/{run_id}"
        run = _finished_run(api, run_id)
        assert run["status"] in ("success", "nothing_to_do")
        assert run["user"].startswith("trigger nightly")
        assert run["environment"] == "dev"  # the schedule's environment

        missing = api.post("/schedules/weekly/trigger")
        assert missing.status_code == 404
        assert "nightly" in missing.json()["detail"]  # the names there are


def test_a_new_file_in_a_sources_folder_starts_one_run(hub: tuple[str, Path]) -> None:
    url, root = hub
    with httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=60) as api:
        time.sleep(2.5)  # the watch has looked at the folder: the loaded file starts nothing
        assert api.get("/schedules/new_orders").json()["last_run_id"] is None
        (root / "data" / "orders_2.csv").write_text("id,amount\n3,30\n4,40\n5,50\n")
        run_id = _until(
            lambda: api.get("/schedules/new_orders").json()["last_run_id"],
            30,
            "the new file to start a run",
        )
        assert _finished_run(api, run_id)["status"] == "success"
        rows = api.post("/query", json={"sql": "select orders, amount from totals"}).json()
        assert rows["rows"] == [{"orders": 5, "amount": 150}]  # the new file's rows, loaded
        time.sleep(2.5)  # loaded now: polled again, the same file starts nothing more
        assert api.get("/schedules/new_orders").json()["last_run_id"] == run_id
        runs = api.get("/runs").json()["items"]
        assert sum((r.get("user") or "").startswith("trigger new_orders") for r in runs) == 1


def test_the_schedules_page_pauses_and_resumes(hub: tuple[str, Path]) -> None:
    url, _ = hub
    with httpx.Client(base_url=url, headers=auth(url), timeout=60) as web:
        page = web.get("/schedules")
        assert page.status_code == 200
        assert 'href="/schedules"' in page.text and "nightly" in page.text
        assert "new file in shop.orders" in page.text
        paused = web.post("/schedules/nightly/pause", follow_redirects=True)
        row = paused.text.split('data-schedule="nightly"')[1].split("</tr>")[0]
        assert "paused" in row and "Resume" in row
        resumed = web.post("/schedules/nightly/resume", follow_redirects=True)
        row = resumed.text.split('data-schedule="nightly"')[1].split("</tr>")[0]
        assert "active" in row and "Pause" in row


def test_cancelling_a_run_stops_its_running_step(tmp_path: Path) -> None:
    files = {
        "models/a.sql": "select 1 as x",
        "steps/long_export.yml": "shell: echo started; sleep 120; echo finished\nupstream: [a]\n",
    }
    root = write_project(tmp_path / "p", files)
    with (
        running_hub(root) as url,
        httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=60) as api,
    ):
        run_id = api.post("/runs", json={"environment": "dev"}).json()["run_id"]
        log = root / ".headgate" / "steps" / f"run-{run_id}" / "steps.long_export.log"
        _until(lambda: log.is_file() and "started" in log.read_text(), 60, "the step to start")
        assert api.post(f"/runs/{run_id}/cancel").status_code in (200, 202)
        run = _finished_run(api, run_id)
    assert "finished" not in log.read_text()  # stopped, not waited for
    assert run["status"] in ("cancelled", "failed")
    step = next(t for t in run["tasks"] if t["name"] == "steps.long_export")
    assert step["status"] == "failed" and "cancelled" in step["error"]


def test_the_listing_and_the_page_say_what_a_schedules_runs_include_and_where(
    tmp_path: Path,
) -> None:
    config = CONFIG.replace(
        "environment: dev}",
        "environment: dev, includes: [ingest, build, checks],"
        " agents: {labels: {site: eu}, sites: [{select: 'shop.*', labels: {site: shop}}]}}",
    )
    root = write_project(tmp_path / "shop", FILES, config=config)
    with (
        running_hub(root, ui=True) as url,
        httpx.Client(base_url=url, headers=auth(url), timeout=60) as web,
    ):
        listed = {s["name"]: s for s in web.get("/api/v1/schedules").json()["items"]}
        page = web.get("/schedules").text
    assert listed["nightly"]["includes"] == ["ingest", "build", "checks"]
    assert listed["nightly"]["agents"] == {
        "labels": {"site": "eu"},
        "sites": [{"select": "shop.*", "labels": {"site": "shop"}}],
    }
    assert listed["new_orders"]["includes"] == [
        "ingest",
        "build",
        "checks",
        "publish",
        "deliveries",
    ]
    assert listed["new_orders"]["agents"] is None
    nightly = page.split('data-schedule="nightly"')[1].split("</tr>")[0]
    assert "ingest, build, checks" in nightly and "agents site=eu; shop.*: site=shop" in nightly
    trigger = page.split('data-schedule="new_orders"')[1].split("</tr>")[0]
    assert "all steps" in trigger and "this hub" in trigger


@pytest.mark.services
def test_a_schedules_run_for_agents_that_cannot_be_planned_fails_saying_why(
    tmp_path: Path, on_postgres: str
) -> None:
    config = CONFIG.replace(
        "environment: dev}",
        "environment: dev, includes: [build, checks, publish], agents: {labels: {site: eu}}}",
    )
    config += on_postgres
    root = write_project(tmp_path / "shop", FILES, config=config)  # nothing loaded yet
    with (
        running_hub(root) as url,
        httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=60) as api,
    ):
        started = api.post("/schedules/nightly/trigger")
        assert started.status_code == 202, started.text
        run = _finished_run(api, started.json()["run_id"])
    assert run["status"] == "failed", run
    assert run["command"] == "run (agents) --only build,checks,publish"
    assert "totals reads shop.orders, which was never loaded in dev" in run["error"], run


@pytest.mark.services
def test_a_schedules_runs_for_agents_keep_to_its_concurrency_limit(
    tmp_path: Path, on_postgres: str
) -> None:
    config = CONFIG.replace(
        "{name: nightly, cron: '0 2 * * *', timezone: Europe/Paris, environment: dev}",
        "{name: every_second, cron: '* * * * * *', environment: dev, max_concurrent: 1,"
        " catch_up: all, agents: {labels: {site: nowhere}}}",
    )
    config += on_postgres
    root = write_project(tmp_path / "shop", FILES, config=config)
    from headgate import Project

    with Project.load(root) as project:
        assert project.run("dev").ok
    (root / "models/more.sql").write_text("select 1 as x")  # each slot's run has work
    with (
        running_hub(root) as url,
        httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=60) as api,
    ):
        # no agent carries site=nowhere: the first slot's run waits with its tasks queued
        first = _until(
            lambda: api.get("/schedules/every_second").json()["last_run_id"], 120, "a run"
        )  # only stops a hang: on a loaded machine the first slot's run can take a while
        time.sleep(3.0)  # three more slots come due meanwhile
        runs = api.get("/runs").json()["items"]
        api.post("/schedules/every_second/pause")
    started = [r for r in runs if r.get("user") == "schedule every_second"]
    assert [r["id"] for r in started] == [first], started  # the later slots wait, queued
    assert started[0]["status"] == "running" and started[0]["command"] == "run (agents)"
    with Project.load(root) as project:
        waiting = project.state.schedule_slots("every_second", state="queued")
    assert len(waiting) >= 2


@pytest.mark.services
def test_a_schedules_run_for_a_site_whose_selection_names_nothing_fails_saying_why(
    tmp_path: Path, on_postgres: str
) -> None:
    config = CONFIG.replace(
        "environment: dev}",
        "environment: dev, agents: {sites: [{select: 'nowhere.at_all', labels: {site: x}}]}}",
    )
    config += on_postgres
    root = write_project(tmp_path / "shop", FILES, config=config)
    with (
        running_hub(root) as url,
        httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=60) as api,
    ):
        started = api.post("/schedules/nightly/trigger")
        assert started.status_code == 202, started.text
        run = _finished_run(api, started.json()["run_id"])
    assert run["status"] == "failed" and run["command"] == "run (agents)", run
    assert "nowhere.at_all" in run["error"], run


def test_a_hub_on_the_embedded_duckdb_refuses_runs_for_agents_saying_why(
    hub: tuple[str, Path],
) -> None:
    url, _ = hub
    with httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=60) as api:
        answer = api.post("/queue/runs", json={"environment": "dev", "labels": {"site": "eu"}})
        runs = api.get("/runs").json()["items"]
        agent = {"name": "a1", "labels": {"site": "eu"}, "capacity": 1, "version": "t"}
        registered = api.post("/agents", json=agent | {"host": "h", "every_seconds": 25})
    assert answer.status_code == 409, answer.text
    detail = answer.json()["detail"]
    assert "runs for agents need a warehouse that agents can build into" in detail
    assert "engine: duckdb in headgate.yml" in detail and "PostgreSQL" in detail
    assert not [r for r in runs if r["command"].startswith("run (agents)")]  # nothing recorded
    assert registered.status_code == 200, registered.text  # an agent hears why at once
    assert "runs for agents need a warehouse" in registered.json()["warning"]
