"""The events API: DataKitchen-shaped events posted to a real hub, kept and read back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.hubs import auth, make_project, running_hub

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root: Path = make_project(tmp_path_factory.mktemp("events") / "shop")
    with (
        running_hub(root) as url,
        httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=60) as client,
    ):
        yield client


def test_each_kind_of_event_is_answered_with_its_id_and_read_back_as_posted(
    api: httpx.Client,
) -> None:
    posted = {
        "run-status": {
            "pipeline_key": "airflow_extract",
            "run_key": "r1",
            "status": "RUNNING",
            "component_tool": "airflow",
            "event_timestamp": "2026-12-01T02:00:00Z",
            "metadata": {"dag": "extract"},
        },
        "test-outcomes": {
            "dataset_key": "raw_orders",
            "test_outcomes": [
                {
                    "name": "row_count",
                    "status": "FAILED",
                    "metric_value": 3,
                    "min_threshold": 100,
                    "max_threshold": 1000,
                }
            ],
        },
        "metric-log": {"pipeline_key": "airflow_extract", "metric_key": "rows", "metric_value": 42},
        "message-log": {
            "server_key": "etl-box",
            "log_level": "ERROR",
            "message": "disk full",
        },
        "dataset-operation": {"dataset_key": "raw_orders", "operation": "WRITE", "path": "/x.csv"},
    }
    ids = {}
    for kind, body in posted.items():
        answer = api.post(f"/events/{kind}", json=body)
        assert answer.status_code == 201, answer.text
        ids[kind] = answer.json()["event_id"]
    assert len(set(ids.values())) == 5
    kept = api.get(f"/events/{ids['test-outcomes']}").json()
    assert kept["event_type"] == "test-outcomes"
    assert kept["component"] == "raw_orders"
    assert kept["test_outcomes"][0]["min_threshold"] == 100
    listed = api.get("/events", params={"component": "airflow_extract"}).json()["items"]
    assert [e["event_type"] for e in listed] == ["metric-log", "run-status"]
    assert listed[1]["event_timestamp"].startswith("2026-12-01T02:00:00")
    assert listed[1]["metadata"] == {"dag": "extract"}


def test_a_run_opens_with_running_and_closes_with_its_end_status_tasks_included(
    api: httpx.Client,
) -> None:
    base = {"pipeline_key": "nightly_load", "run_key": "n1", "component_tool": "airflow"}
    for body in (
        {**base, "status": "RUNNING", "event_timestamp": "2026-12-02T02:00:00Z"},
        {**base, "task_key": "extract", "status": "RUNNING"},
        {**base, "task_key": "extract", "status": "COMPLETED"},
        {**base, "task_key": "load", "status": "FAILED"},
        {**base, "status": "FAILED", "event_timestamp": "2026-12-02T02:30:00Z"},
    ):
        assert api.post("/events/run-status", json=body).status_code == 201
    component = api.get("/components/nightly_load").json()
    assert component["kind"] == "batch_pipeline"
    assert component["tool"] == "airflow"
    assert component["status"] == "FAILED"
    (run,) = component["runs"]
    assert run["run_key"] == "n1" and run["status"] == "FAILED"
    assert run["started_at"].startswith("2026-12-02T02:00:00")
    assert run["ended_at"].startswith("2026-12-02T02:30:00")
    assert {t["task_key"]: t["status"] for t in run["tasks"]} == {
        "extract": "COMPLETED",
        "load": "FAILED",
    }


def test_a_batch_is_kept_in_one_request_and_answers_every_id_in_order(api: httpx.Client) -> None:
    events = [
        {
            "event_type": "run-status",
            "pipeline_key": f"batch_job_{i % 3}",
            "run_key": f"b{i}",
            "status": "COMPLETED",
        }
        for i in range(300)
    ] + [{"event_type": "metric-log", "dataset_key": "d", "metric_key": "m", "metric_value": 1.5}]
    answer = api.post("/events/batch", json={"events": events})
    assert answer.status_code == 201, answer.text
    ids = answer.json()["event_ids"]
    assert len(ids) == 301 and len(set(ids)) == 301
    assert api.get(f"/events/{ids[-1]}").json()["metric_value"] == 1.5
    runs = api.get("/components/batch_job_0").json()["runs"]
    assert len(runs) == 20  # the newest 20 of its 100 runs, each one completed
    assert {r["status"] for r in runs} == {"COMPLETED"}


def test_an_end_status_that_arrives_before_running_keeps_the_run_ended(api: httpx.Client) -> None:
    base = {"pipeline_key": "out_of_order", "run_key": "o1"}
    api.post(
        "/events/run-status",
        json={**base, "status": "COMPLETED", "event_timestamp": "2026-12-02T03:00:00Z"},
    )
    api.post(
        "/events/run-status",
        json={**base, "status": "RUNNING", "event_timestamp": "2026-12-02T02:00:00Z"},
    )
    (run,) = api.get("/components/out_of_order").json()["runs"]
    assert run["status"] == "COMPLETED"
    assert run["started_at"].startswith("2026-12-02T02:00:00")


@pytest.mark.parametrize(
    ("kind", "body", "said"),
    [
        ("run-status", {"pipeline_key": "p", "run_key": "r", "status": "DONE"}, "'RUNNING'"),
        ("run-status", {"pipeline_key": "p", "status": "RUNNING"}, "needs pipeline_key"),
        (
            "metric-log",
            {"pipeline_key": "p", "metric_key": "m", "metric_value": 1, "colour": "red"},
            "unknown field 'colour'",
        ),
        (
            "message-log",
            {"pipeline_key": "p", "dataset_key": "d", "log_level": "INFO", "message": "x"},
            "exactly one component",
        ),
        (
            "dataset-operation",
            {"dataset_key": "d", "run_key": "r", "operation": "WRITE"},
            "takes no pipeline_key or run_key",
        ),
        (
            "run-status",
            {
                "pipeline_key": "p",
                "run_key": "r",
                "status": "RUNNING",
                "event_timestamp": "2026-12-02T02:00:00",
            },
            "time zone",
        ),
    ],
)
def test_an_invalid_event_is_a_problem_that_says_what_is_allowed(
    api: httpx.Client, kind: str, body: dict[str, object], said: str
) -> None:
    answer = api.post(f"/events/{kind}", json=body)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert said in answer.json()["detail"]


def test_unknown_field_lists_the_allowed_ones(api: httpx.Client) -> None:
    answer = api.post(
        "/events/metric-log",
        json={"pipeline_key": "p", "metric_key": "m", "metric_value": 1, "colour": "red"},
    )
    assert "allowed are" in answer.json()["detail"]
    assert "metric_value" in answer.json()["detail"]


def test_a_nan_metric_is_refused(api: httpx.Client) -> None:
    answer = api.post(
        "/events/metric-log",
        content=b'{"pipeline_key": "p", "metric_key": "m", "metric_value": NaN}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 422
