"""OpenLineage in: the real openlineage-python client posts to a real hub, and Marquez's
read API answers with what it posted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import error_message_run, parent_run, schema_dataset, sql_job
from openlineage.client.transport.http import HttpConfig, HttpTransport

from tests.server.hubs import auth, make_project, running_hub

NS = "postgres://warehouse:5432"
AIRFLOW = "airflow-prod"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = make_project(tmp_path_factory.mktemp("ol") / "project")
    with running_hub(root) as url:
        yield url


def client_for(url: str) -> OpenLineageClient:
    """The client as a team configures it, its HTTP transport unchanged."""
    token = auth(url).get("Authorization", "").removeprefix("Bearer ")
    config = HttpConfig.from_dict(
        {
            "url": url,
            "endpoint": "api/v1/lineage",
            "auth": {"type": "api_key", "apiKey": token} if token else {},
        }
    )
    return OpenLineageClient(transport=HttpTransport(config))


def event(
    state: RunState,
    job: str,
    run_id: str,
    *,
    at: str,
    inputs: list[str] = (),  # type: ignore[assignment]
    outputs: list[str] = (),  # type: ignore[assignment]
    run_facets: dict[str, Any] | None = None,
    job_facets: dict[str, Any] | None = None,
) -> RunEvent:
    schema = schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name="id", type="INTEGER", description="key"),
            schema_dataset.SchemaDatasetFacetFields(name="amount", type="DECIMAL"),
        ]
    )
    return RunEvent(
        eventType=state,
        eventTime=at,
        run=Run(runId=run_id, facets=run_facets or {}),
        job=Job(namespace=AIRFLOW, name=job, facets=job_facets or {}),
        producer="https://github.com/apache/airflow",
        inputs=[InputDataset(namespace=NS, name=n, facets={"schema": schema}) for n in inputs],
        outputs=[OutputDataset(namespace=NS, name=n, facets={"schema": schema}) for n in outputs],
    )


def get(url: str, path: str, **params: Any) -> Any:
    response = httpx.get(f"{url}/api/v1{path}", params=params, headers=auth(url), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_pipeline_posted_by_the_client_reads_back_in_marquez_shapes(hub: str) -> None:
    client = client_for(hub)
    load, build = str(uuid.uuid4()), str(uuid.uuid4())
    sql = {"sql": sql_job.SQLJobFacet(query="insert into public.orders select * from raw.orders")}
    client.emit(
        event(
            RunState.START,
            "etl.load_orders",
            load,
            at="2026-12-01T02:00:00Z",
            inputs=["raw.orders"],
            job_facets=sql,
        )
    )
    client.emit(
        event(
            RunState.COMPLETE,
            "etl.load_orders",
            load,
            at="2026-12-01T02:03:30Z",
            inputs=["raw.orders"],
            outputs=["public.orders"],
        )
    )
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=load), job=parent_run.Job(namespace=AIRFLOW, name="etl")
    )
    client.emit(
        event(
            RunState.START,
            "etl.revenue",
            build,
            at="2026-12-01T02:04:00Z",
            inputs=["public.orders"],
            run_facets={"parent": parent},
        )
    )
    client.emit(
        event(
            RunState.COMPLETE,
            "etl.revenue",
            build,
            at="2026-12-01T02:05:00Z",
            inputs=["public.orders"],
            outputs=["public.revenue"],
        )
    )

    names = [n["name"] for n in get(hub, "/namespaces")["namespaces"]]
    assert AIRFLOW in names and NS in names

    jobs = get(hub, f"/namespaces/{AIRFLOW}/jobs")
    assert jobs["totalCount"] >= 2
    loader = get(hub, f"/namespaces/{AIRFLOW}/jobs/etl.load_orders")
    assert loader["id"] == {"namespace": AIRFLOW, "name": "etl.load_orders"}
    assert loader["type"] == "BATCH"
    assert loader["inputs"] == [{"namespace": NS, "name": "raw.orders"}]
    assert loader["outputs"] == [{"namespace": NS, "name": "public.orders"}]
    assert loader["facets"]["sql"]["query"].startswith("insert into public.orders")
    assert loader["latestRun"]["id"] == load
    assert loader["latestRun"]["state"] == "COMPLETED"
    assert loader["latestRun"]["durationMs"] == 210_000

    runs = get(hub, f"/namespaces/{AIRFLOW}/jobs/etl.revenue/runs")["runs"]
    assert [r["id"] for r in runs] == [build]
    assert runs[0]["startedAt"] == "2026-12-01T02:04:00Z"
    assert runs[0]["endedAt"] == "2026-12-01T02:05:00Z"
    assert runs[0]["facets"]["parent"]["run"]["runId"] == load
    assert get(hub, f"/jobs/runs/{build}")["jobVersion"]["name"] == "etl.revenue"

    # a namespace with colons and slashes, as a database's URL, addressed in the path
    orders = get(hub, f"/namespaces/{NS}/datasets/public.orders")
    assert orders["id"] == {"namespace": NS, "name": "public.orders"}
    assert [(f["name"], f["type"]) for f in orders["fields"]] == [
        ("id", "INTEGER"),
        ("amount", "DECIMAL"),
    ]
    assert orders["lastModifiedAt"] == "2026-12-01T02:03:30Z"
    assert get(hub, f"/namespaces/{NS}/datasets")["totalCount"] >= 3


def test_the_lineage_graph_around_a_dataset_in_marquez_shape(hub: str) -> None:
    client = client_for(hub)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    client.emit(
        event(
            RunState.COMPLETE,
            "g.extract",
            first,
            at="2026-12-02T01:00:00Z",
            inputs=["g.source"],
            outputs=["g.staging"],
        )
    )
    client.emit(
        event(
            RunState.COMPLETE,
            "g.mart",
            second,
            at="2026-12-02T01:10:00Z",
            inputs=["g.staging"],
            outputs=["g.mart"],
        )
    )

    graph = get(hub, "/lineage", nodeId=f"dataset:{NS}:g.staging", depth=20)["graph"]
    by_id = {node["id"]: node for node in graph}
    assert set(by_id) == {
        f"dataset:{NS}:g.source",
        f"job:{AIRFLOW}:g.extract",
        f"dataset:{NS}:g.staging",
        f"job:{AIRFLOW}:g.mart",
        f"dataset:{NS}:g.mart",
    }
    staging = by_id[f"dataset:{NS}:g.staging"]
    assert staging["type"] == "DATASET"
    assert staging["data"]["name"] == "g.staging"
    assert staging["inEdges"] == [
        {"origin": f"job:{AIRFLOW}:g.extract", "destination": f"dataset:{NS}:g.staging"}
    ]
    assert staging["outEdges"] == [
        {"origin": f"dataset:{NS}:g.staging", "destination": f"job:{AIRFLOW}:g.mart"}
    ]
    assert by_id[f"job:{AIRFLOW}:g.mart"]["type"] == "JOB"

    # depth counts jobs: from the mart's output, one job away is the mart job and its input
    near = get(hub, "/lineage", nodeId=f"dataset:{NS}:g.mart", depth=1)["graph"]
    assert {n["id"] for n in near} == {
        f"dataset:{NS}:g.mart",
        f"job:{AIRFLOW}:g.mart",
        f"dataset:{NS}:g.staging",
    }
    # without nodeId the route is headgate's own DAG, as before
    own = get(hub, "/lineage")
    assert {n["id"] for n in own["nodes"]} >= {"staging.orders", "marts.revenue"}


def test_a_failed_run_keeps_its_error_and_a_late_start_does_not_reopen_it(hub: str) -> None:
    client = client_for(hub)
    run_id = str(uuid.uuid4())
    error = {
        "errorMessage": error_message_run.ErrorMessageRunFacet(
            message="relation raw.payments does not exist", programmingLanguage="SQL"
        )
    }
    client.emit(
        event(RunState.FAIL, "etl.payments", run_id, at="2026-12-01T03:02:00Z", run_facets=error)
    )
    client.emit(event(RunState.START, "etl.payments", run_id, at="2026-12-01T03:00:00Z"))
    found = get(hub, f"/jobs/runs/{run_id}")
    assert found["state"] == "FAILED"
    assert found["startedAt"] == "2026-12-01T03:00:00Z"
    assert found["durationMs"] == 120_000
    assert found["facets"]["errorMessage"]["message"] == "relation raw.payments does not exist"
    events = get(
        hub, "/events/lineage", after="2026-12-01T03:00:00Z", before="2026-12-01T03:59:00Z"
    )
    assert [e["eventType"] for e in events["events"]] == ["FAIL", "START"]


def test_a_bad_event_is_refused_with_what_is_wrong(hub: str) -> None:
    headers = auth(hub)
    url = f"{hub}/api/v1/lineage"
    missing = httpx.post(
        url,
        json={"eventType": "START", "eventTime": "2026-12-01T00:00:00Z", "run": {"runId": "r"}},
        headers=headers,
    )
    assert missing.status_code == 400
    assert "job is required" in missing.json()["detail"]
    wrong = httpx.post(
        url, json={"eventType": "BEGIN", "eventTime": "2026-12-01T00:00:00Z"}, headers=headers
    )
    assert wrong.status_code == 400
    assert "START, RUNNING, COMPLETE, ABORT, FAIL, OTHER" in wrong.json()["detail"]
    not_json = httpx.post(
        url, content=b"{", headers={**headers, "content-type": "application/json"}
    )
    assert not_json.status_code == 400
    unknown = httpx.get(f"{hub}/api/v1/namespaces/nowhere/jobs/nothing", headers=headers)
    assert unknown.status_code == 404


def test_events_posted_gzipped_are_kept(hub: str, tmp_path: Path) -> None:
    token = auth(hub).get("Authorization", "").removeprefix("Bearer ")
    config = HttpConfig.from_dict(
        {
            "url": hub,
            "compression": "gzip",
            **({"auth": {"type": "api_key", "apiKey": token}} if token else {}),
        }
    )
    client = OpenLineageClient(transport=HttpTransport(config))
    run_id = str(uuid.uuid4())
    client.emit(event(RunState.COMPLETE, "etl.zipped", run_id, at="2026-12-01T04:00:00Z"))
    assert get(hub, f"/jobs/runs/{run_id}")["state"] == "COMPLETED"
