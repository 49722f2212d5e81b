"""The hub's REST API, against a real server on a loopback port."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from tests.server.hubs import auth, commit_on_branch, git, make_project, running_hub
from tests.support import cli

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("hub") / "shop")


@pytest.fixture(scope="module")
def api(project: Path) -> Iterator[httpx.Client]:
    with (
        running_hub(project) as url,
        httpx.Client(base_url=f"{url}/api/v1", timeout=60, headers=auth(url)) as client,
    ):
        yield client


def test_models_list_their_state_and_a_model_shows_sql_columns_and_neighbours(
    api: httpx.Client,
) -> None:
    listed = api.get("/models").json()
    states = {m["name"]: m["state"] for m in listed["items"]}
    assert states == {
        "shop.orders": "up to date",
        "staging.orders": "up to date",
        "marts.revenue": "up to date",
    }
    detail = api.get("/models/staging.orders").json()
    assert "from shop.orders" in detail["sql"]
    assert detail["owner"] == "data-platform" and detail["tags"] == ["core"]
    columns = {c["name"]: c for c in detail["columns"]}
    assert columns["order_id"]["description"] == "The order's id."
    assert columns["amount"]["type"] == "DOUBLE"
    assert detail["upstream"] == ["shop.orders"] and detail["downstream"] == ["marts.revenue"]
    lineage = api.get("/models/marts.revenue/lineage").json()["columns"]
    assert lineage["revenue"] == [{"model": "staging.orders", "column": "amount"}]


def test_the_lineage_graph_colours_a_model_whose_checks_warned(api: httpx.Client) -> None:
    graph = api.get("/lineage").json()
    status = {n["id"]: n["status"] for n in graph["nodes"]}
    assert status["staging.orders"] == "warn"  # amounts above 15 are tolerated with a warning
    assert status["marts.revenue"] == "ok"
    assert {"from": "staging.orders", "to": "marts.revenue"} in graph["edges"]


def test_errors_are_problem_documents_with_the_cli_text(api: httpx.Client, project: Path) -> None:
    answer = api.get("/checks/staging.orders.order_id.uniq")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    printed = cli(project, "failures", "staging.orders.order_id.uniq")
    assert printed.returncode == 1
    assert printed.stderr == f"error: {answer.json()['detail']}\n"
    invalid = api.post("/runs", json={"environment": "no such env!"})
    assert invalid.status_code == 422 and invalid.json()["detail"].startswith("environment")


def test_failing_samples_and_history_of_a_check(api: httpx.Client) -> None:
    latest = api.get("/checks", params={"status": "warn"}).json()
    assert [c["name"] for c in latest["items"]] == ["staging.orders.amount.range"]
    failures = api.get("/checks/staging.orders.amount.range").json()
    assert failures["failing_rows"] > 0 and all(r["amount"] > 15 for r in failures["sample"])
    history = api.get("/checks/staging.orders.amount.range/history").json()
    assert history["items"][0]["status"] == "warn"


def test_a_query_answers_json_csv_and_arrow_with_the_same_rows(api: httpx.Client) -> None:
    sql = "select customer, revenue from marts.revenue order by customer"
    as_json = api.post("/query", json={"sql": sql}).json()
    as_csv = api.post("/query", json={"sql": sql, "format": "csv"}).text
    arrow = api.get(
        "/query", params={"sql": sql}, headers={"Accept": "application/vnd.apache.arrow.stream"}
    )
    table = pa.ipc.open_stream(io.BytesIO(arrow.content)).read_all()
    assert as_json["columns"] == ["customer", "revenue"] and len(as_json["rows"]) == 7
    assert as_csv.splitlines()[0] == "customer,revenue" and len(as_csv.splitlines()) == 8
    assert table.to_pylist() == as_json["rows"]
    limited = api.post("/query", json={"sql": sql, "limit": 3}).json()
    assert limited["row_count"] == 3 and limited["truncated"] is True


def test_a_query_that_runs_too_long_is_stopped_with_a_clear_error(api: httpx.Client) -> None:
    slow = "select count(*) from range(100000000) a, range(1000000) b"
    answer = api.post("/query", json={"sql": slow, "timeout": 0.5})
    assert answer.status_code == 400
    assert "longer than its timeout" in answer.json()["detail"]
    again = api.post("/query", json={"sql": "select count(*) as n from staging.orders"})
    assert again.json()["rows"] == [{"n": 300}]  # the hub reads on after a stopped query


def test_a_write_is_refused_with_the_cli_text(api: httpx.Client) -> None:
    answer = api.post("/query", json={"sql": "drop table marts.revenue"})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("headgate query only reads; DROP is not allowed")


def test_lists_carry_an_etag_and_answer_304_while_unchanged(api: httpx.Client) -> None:
    first = api.get("/runs")
    tag = first.headers["etag"]
    again = api.get("/runs", headers={"If-None-Match": tag})
    assert again.status_code == 304
    page = api.get("/runs", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["limit"] == 1


def test_a_run_answers_at_once_with_its_id_and_streams_its_progress(
    api: httpx.Client, project: Path
) -> None:
    assert api.post("/environments", json={"name": "dev", "from": "prod"}).status_code == 201
    started = api.post("/runs", json={"environment": "dev", "full_refresh": True})
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    events = []
    with api.stream("GET", f"/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
    assert events[-1] == "end"
    assert {"plan", "task_started", "task_finished", "run_finished"} <= set(events)
    detail = api.get(f"/runs/{run_id}").json()
    assert detail["status"] == "success" and detail["environment"] == "dev"
    assert {t["name"]: t["status"] for t in detail["tasks"]}["marts.revenue"] == "built"


def test_a_queued_run_can_be_cancelled_and_never_starts(api: httpx.Client) -> None:
    first = api.post("/runs", json={"environment": "dev", "full_refresh": True}).json()
    second = api.post("/runs", json={"environment": "dev", "full_refresh": True}).json()
    cancelled = api.post(f"/runs/{second['run_id']}/cancel")
    assert cancelled.status_code == 202
    for job in (first, second):
        with api.stream("GET", f"/jobs/{job['job_id']}/events") as stream:
            for _ in stream.iter_lines():
                pass
    assert api.get(f"/runs/{first['run_id']}").json()["status"] == "success"
    record = api.get(f"/runs/{second['run_id']}").json()
    assert record["status"] == "cancelled" and record["tasks"] == []


def test_a_branch_is_planned_built_deployed_and_rolled_back_without_touching_the_work_tree(
    api: httpx.Client, project: Path, tmp_path: Path
) -> None:
    changed = (
        (project / "models/marts/revenue.sql")
        .read_text()
        .replace("sum(amount) as revenue", "round(sum(amount) * 2, 2) as revenue")
    )
    commit_on_branch(project, "double", {"models/marts/revenue.sql": changed}, tmp_path / "wt")
    before = (project / "models/marts/revenue.sql").read_text()

    review = api.get("/plans", params={"env": "prod", "revision": "double"}).json()
    assert [m["name"] for m in review["models"]] == ["marts.revenue"]
    assert review["models"][0]["columns_changed"] == ["revenue"]
    markdown = api.get("/plans", params={"revision": "double", "format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "`marts.revenue`" in markdown.text

    api.post("/environments", json={"name": "review", "from": "prod"})
    run = api.post("/runs", json={"environment": "review", "revision": "double"}).json()
    with api.stream("GET", f"/runs/{run['run_id']}/events") as stream:
        for _ in stream.iter_lines():
            pass
    sql = "select sum(revenue) as total from marts.revenue"
    old = api.post("/query", json={"sql": sql}).json()["rows"][0]["total"]
    new = api.post("/query", json={"sql": sql, "environment": "review"}).json()["rows"][0]
    assert new["total"] == pytest.approx(old * 2, rel=1e-6)

    deployed = api.post("/deployments", json={"from": "review", "to": "prod"})
    assert deployed.status_code == 201, deployed.text
    assert [(m["name"], m["change"]) for m in deployed.json()["models"]] == [
        ("marts.revenue", "changed")
    ]
    assert api.post("/query", json={"sql": sql}).json()["rows"][0]["total"] == new["total"]
    rolled = api.post("/environments/prod/rollback", json={})
    assert rolled.status_code == 201, rolled.text
    assert api.post("/query", json={"sql": sql}).json()["rows"][0]["total"] == old
    history = api.get("/deployments", params={"env": "prod"}).json()["items"]
    assert [d["kind"] for d in history[:2]] == ["rollback", "deploy"]

    assert (project / "models/marts/revenue.sql").read_text() == before
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def test_environments_list_compare_and_delete(api: httpx.Client) -> None:
    api.post("/environments", json={"name": "scratch", "from": "prod"})
    names = [e["name"] for e in api.get("/environments").json()["environments"]]
    assert "scratch" in names
    compared = api.get("/environments/scratch/compare/prod").json()
    assert compared["differing"] == 0
    assert api.delete("/environments/scratch").json()["views_dropped"] >= 3
    assert api.get("/environments/scratch").status_code == 404


def test_deliveries_run_and_their_output_is_fetched(api: httpx.Client) -> None:
    ran = api.post("/deliveries/run", json={"names": ["revenue_export"]}).json()
    assert ran["deliveries"][0]["status"] == "delivered"
    output = api.get("/deliveries/revenue_export/output")
    assert output.status_code == 200 and output.text.startswith('"customer","revenue","orders"')


def test_every_route_declares_its_permission_and_the_docs_need_no_cdn(
    api: httpx.Client, project: Path
) -> None:
    document = api.get("/openapi.json").json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert operations and all(op.get("x-permission") for op in operations)
    docs = httpx.get(str(api.base_url.copy_with(path="/api/docs"))).text
    assert "POST" in docs and "/api/v1/runs" in docs
    assert "<script" not in docs and "https://" not in docs and "cdn" not in docs.lower()
    json.dumps(document)
