"""OpenLineage runs, posted by the real openlineage-python client, land in journeys beside
headgate's own components, and a failed one alerts like any other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import error_message_run
from openlineage.client.transport.http import HttpConfig, HttpTransport

from tests.observe.observing import Clock, observed_hub, observed_project, webhook_receiver

pytestmark = pytest.mark.fast

AIRFLOW = "airflow-prod"
WAREHOUSE = "postgres://warehouse:5432"


def _client(url: str, headers: dict[str, str]) -> OpenLineageClient:
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    config = HttpConfig.from_dict(
        {
            "url": url,
            "endpoint": "api/v1/lineage",
            "auth": {"type": "api_key", "apiKey": token} if token else {},
        }
    )
    return OpenLineageClient(transport=HttpTransport(config))


def _event(state: RunState, run_id: str, at: str, **facets: object) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=at,
        run=Run(runId=run_id, facets=dict(facets)),
        job=Job(namespace=AIRFLOW, name="extract_orders"),
        producer="https://github.com/apache/airflow/tree/providers-openlineage",
        inputs=[InputDataset(namespace=WAREHOUSE, name="public.orders")],
        outputs=[OutputDataset(namespace=WAREHOUSE, name="raw.orders")],
    )


def test_an_airflow_task_over_openlineage_is_a_component_of_the_journey(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        config = f"""
observe:
  journeys:
    - name: orders
      path: ["{AIRFLOW}:extract_orders", "{WAREHOUSE}:raw.orders", "model:staging.numbers"]
  rules:
    - name: failures
      journey: orders
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      actions: [{{webhook: {{url: "{receiver.url}/hook", body: "{{message}}"}}}}]
"""
        root = observed_project(tmp_path / "p", config)
        clock = Clock(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
        with observed_hub(root, clock) as served, served.client() as client:
            lineage = _client(served.url, served.headers)
            first, second = str(uuid.uuid4()), str(uuid.uuid4())
            lineage.emit(_event(RunState.START, first, "2026-12-01T02:00:00Z"))
            lineage.emit(_event(RunState.COMPLETE, first, "2026-12-01T02:05:00Z"))
            served.hub.observer.tick()

            journey = client.get("/api/v1/journeys/orders").json()
            states = {c["key"]: (c.get("status"), c.get("tool")) for c in journey["components"]}
            assert states[f"{AIRFLOW}:extract_orders"] == ("COMPLETED", "airflow")
            assert states[f"{WAREHOUSE}:raw.orders"] == ("WRITE", "airflow")
            (instance,) = journey["instances"]
            assert instance["runs"] == {f"{AIRFLOW}:extract_orders": first}

            failure = error_message_run.ErrorMessageRunFacet(
                message="relation public.orders does not exist", programmingLanguage="python"
            )
            lineage.emit(_event(RunState.START, second, "2026-12-02T02:00:00Z"))
            lineage.emit(
                _event(RunState.FAIL, second, "2026-12-02T02:01:00Z", errorMessage=failure)
            )
            served.hub.observer.tick()
            served.hub.observer.tick()  # a second look finds nothing new: nothing sent twice
            (hook,) = receiver.at("/hook")
            assert hook.body.decode() == f"{AIRFLOW}:extract_orders: run {second} is FAILED"
            messages = client.get(
                "/api/v1/events",
                params={"component": f"{AIRFLOW}:extract_orders", "kind": "message-log"},
            ).json()["items"]
            assert messages[0]["message"] == "relation public.orders does not exist"
