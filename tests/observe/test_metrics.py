"""/metrics: the hub's records in Prometheus' format, parsed with prometheus_client's parser."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from headgate.facade import Project
from headgate.observe.metrics import exposition
from headgate.state import tables as t
from tests.server.hubs import auth, make_project, running_hub


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("metrics") / "project")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_the_exposition_counts_runs_checks_rows_and_freshness(project_root: Path) -> None:
    with Project.load(project_root) as project:
        store = project.state
        with store.engine.connect() as conn:
            built = conn.execute(
                select(t.physical_tables.c.created_at)
                .select_from(
                    t.env_models.join(
                        t.physical_tables,
                        t.physical_tables.c.name == t.env_models.c.physical_table,
                    )
                )
                .where(t.env_models.c.model == "marts.revenue")
            ).scalar_one()
        at = built + timedelta(hours=1)
        with store.engine.begin() as conn:
            conn.execute(
                t.agents.insert(),
                [
                    {
                        "name": n,
                        "labels": {},
                        "capacity": 1,
                        "every_seconds": 5.0,
                        "registered_at": at,
                        "seen_at": at - timedelta(seconds=age),
                    }
                    for n, age in (("a", 3), ("b", 15), ("c", 60), ("d", 61))
                ],
            )
        text = exposition(store, clock=lambda: at).decode()
    found = samples(text)
    assert value(found, "headgate_runs_total", environment="prod", status="success") == 1
    assert value(found, "headgate_run_duration_seconds_count", environment="prod") == 1
    assert value(found, "headgate_model_rows", environment="prod", model="staging.orders") == 300
    lag = value(
        found, "headgate_model_freshness_lag_seconds", environment="prod", model="marts.revenue"
    )
    assert lag == 3600.0
    # staging.orders has not_null and unique on order_id (pass) and a range that warns
    assert value(found, "headgate_checks_total", status="pass", severity="error") >= 2
    assert value(found, "headgate_checks_total", status="warn", severity="warn") == 1
    assert value(found, "headgate_task_rows_total", kind="source") == 300
    assert value(found, "headgate_tasks_total", kind="model", status="built") == 2
    assert value(found, "headgate_agents", health="healthy") == 1
    assert value(found, "headgate_agents", health="late") == 1
    assert value(found, "headgate_agents", health="offline") == 2
    assert value(found, "headgate_queue_tasks", state="queued") == 0
    # Prometheus' conventions: no label names a run, durations in seconds
    labels = {name for (_, pairs) in found for name, _ in pairs}
    assert not labels & {"run", "run_id", "id"}
    names = {name for name, _ in found}
    assert not any(n.endswith("_ms") or n.endswith("_milliseconds") for n in names)


def test_the_hub_serves_metrics_with_the_events_it_received(project_root: Path) -> None:
    with running_hub(project_root) as url:
        posted = httpx.post(
            f"{url}/api/v1/lineage",
            json={
                "eventType": "COMPLETE",
                "eventTime": "2026-12-01T00:00:00Z",
                "producer": "https://example.com/test",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
                "run": {"runId": "3f5e1e1c-0000-4000-8000-000000000001"},
                "job": {"namespace": "airflow", "name": "nightly"},
            },
            headers=auth(url),
        )
        assert posted.status_code == 201, posted.text
        response = httpx.get(f"{url}/metrics", headers=auth(url), timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert value(found, "headgate_openlineage_events_received_total", event_type="COMPLETE") == 1
    assert value(found, "headgate_runs_total", environment="prod", status="success") >= 1
