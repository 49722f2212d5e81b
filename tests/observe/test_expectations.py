"""Expected schedules driven by a clock the test moves: late start, missing run, late end,
dataset not ready, each alerted once and resolved by the event that settles it; the
slots ahead shown as upcoming instances."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.observe.observing import (
    Clock,
    Receiver,
    observed_hub,
    observed_project,
    webhook_receiver,
)

pytestmark = pytest.mark.fast

DAY1 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as found:
        yield found


def _config(receiver: Receiver) -> str:
    return f"""
observe:
  components:
    - key: nightly_job
      tool: airflow
      schedule: {{cron: "0 2 * * *", margin: 30m, duration: 1h}}
    - key: raw_orders
      kind: dataset
      schedule: {{cron: "0 3 * * *", margin: 15m}}
  journeys:
    - name: orders
      path: [nightly_job, raw_orders, "model:staging.numbers", "model:marts.totals"]
  rules:
    - name: on-time
      journey: orders
      conditions: [{{alert: {{types: [late_start, missing_run, late_end, dataset_not_ready]}}}}]
      actions:
        - webhook: {{url: "{receiver.url}/hook", body: "{{status}} {{message}}"}}
"""


def _said(receiver: Receiver) -> list[str]:
    return [r.body.decode() for r in receiver.at("/hook")]


def _post(client: httpx.Client, body: dict[str, Any], kind: str = "run-status") -> None:
    answer = client.post(f"/api/v1/events/{kind}", json=body)
    assert answer.status_code == 201, answer.text


def test_late_missing_late_end_and_not_ready_each_alert_once_and_resolve(
    tmp_path: Path, receiver: Receiver
) -> None:
    root = observed_project(tmp_path / "p", _config(receiver))
    clock = Clock(DAY1)
    with observed_hub(root, clock) as served, served.client() as client:
        tick = served.hub.observer.tick
        tick()
        upcoming = client.get("/api/v1/upcoming-instances").json()["items"]
        assert [(u["component"], u["expected_start"]) for u in upcoming[:2]] == [
            ("nightly_job", "2026-12-01T02:00:00+00:00"),
            ("raw_orders", "2026-12-01T03:00:00+00:00"),
        ]
        assert upcoming[0]["start_by"] == "2026-12-01T02:30:00+00:00"
        assert upcoming[0]["expected_end"] == "2026-12-01T03:00:00+00:00"

        clock.now = DAY1 + timedelta(hours=1, minutes=20)  # 02:20: within the margin
        tick()
        assert _said(receiver) == []
        clock.now = DAY1 + timedelta(hours=1, minutes=31)  # 02:31: not started
        tick()
        tick()
        assert _said(receiver) == [
            "alert nightly_job did not start by 2026-12-01 02:30 UTC (expected at 2026-12-01 02:00 UTC)"
        ]

        job = {"pipeline_key": "nightly_job", "run_key": "d1"}
        started = DAY1 + timedelta(hours=1, minutes=40)
        _post(client, {**job, "status": "RUNNING", "event_timestamp": started.isoformat()})
        tick()
        assert _said(receiver)[-1].startswith("resolved nightly_job did not start")

        clock.now = DAY1 + timedelta(hours=2, minutes=1)  # 03:01: still running
        tick()
        assert _said(receiver)[-1] == (
            "alert nightly_job run d1 was still running at 2026-12-01 03:00 UTC"
        )
        clock.now = DAY1 + timedelta(hours=2, minutes=16)  # 03:16: no WRITE yet
        tick()
        # the dataset is late because the job that writes it is: one alert, the job's
        assert len(_said(receiver)) == 3
        raised = client.get("/api/v1/alerts", params={"component": "raw_orders"}).json()
        grouped = next(a for a in raised["items"] if a["rule"] == "on-time")
        root = client.get(f"/api/v1/alerts/{grouped['root_id']}").json()
        assert root["component"] == "nightly_job"
        assert [g["component"] for g in root["grouped"]] == ["raw_orders"]
        _post(
            client,
            {
                "dataset_key": "raw_orders",
                "operation": "WRITE",
                "event_timestamp": clock.now.isoformat(),
            },
            "dataset-operation",
        )
        _post(client, {**job, "status": "COMPLETED", "event_timestamp": clock.now.isoformat()})
        tick()
        assert _said(receiver)[3:] == [
            "resolved nightly_job run d1 was still running at 2026-12-01 03:00 UTC"
        ]

        # the next night nothing runs: late at 02:30, missing when the next slot comes
        clock.now = DAY1 + timedelta(days=1, hours=1, minutes=31)
        tick()
        clock.now = DAY1 + timedelta(days=1, hours=2, minutes=16)
        tick()  # the dataset is not written either: grouped under the job's alert
        clock.now = DAY1 + timedelta(days=2, hours=1, minutes=0, seconds=1)
        tick()
        tick()
        assert _said(receiver)[4:] == [
            "alert nightly_job did not start by 2026-12-02 02:30 UTC (expected at 2026-12-02 02:00 UTC)",
            "reminder nightly_job did not run for its 2026-12-02 02:00 UTC slot",
        ]
        alerts = client.get("/api/v1/alerts", params={"status": "open"}).json()["items"]
        kinds = sorted(a["kind"] for a in alerts if a["rule"] is None)
        assert kinds == ["dataset_not_ready", "late_start", "missing_run"]


def test_a_new_hub_does_not_report_slots_from_before_it_watched(
    tmp_path: Path, receiver: Receiver
) -> None:
    root = observed_project(tmp_path / "p", _config(receiver))
    clock = Clock(DAY1 + timedelta(hours=5))  # after both of the day's deadlines
    with observed_hub(root, clock) as served:
        served.hub.observer.tick()
        assert _said(receiver) == []


def test_the_journey_is_a_graph_of_its_components_with_their_state_and_instances(
    tmp_path: Path, receiver: Receiver
) -> None:
    root = observed_project(tmp_path / "p", _config(receiver))
    clock = Clock(DAY1)
    with observed_hub(root, clock) as served, served.client() as client:
        tick = served.hub.observer.tick
        tick()
        job = {"pipeline_key": "nightly_job", "run_key": "k1"}
        _post(client, {**job, "status": "RUNNING"})
        tick()
        body = client.get("/api/v1/journeys/orders").json()
        assert [c["key"] for c in body["components"]] == [
            "nightly_job",
            "raw_orders",
            "model:staging.numbers",
            "model:marts.totals",
        ]
        kinds = {c["key"]: c["kind"] for c in body["components"]}
        assert kinds["model:marts.totals"] == "model" and kinds["raw_orders"] == "dataset"
        assert {"from": "nightly_job", "to": "raw_orders"} in body["edges"]
        assert body["components"][0]["status"] == "RUNNING"
        (instance,) = body["instances"]
        assert instance["status"] == "running" and instance["runs"] == {"nightly_job": "k1"}
        assert body["upcoming"][0]["component"] == "nightly_job"

        listed = client.get("/api/v1/journeys").json()["items"]
        assert [j["name"] for j in listed] == ["orders"]
        assert listed[0]["latest_instance"]["status"] == "running"

        # a journey named in an event's metadata is created by it
        _post(
            client,
            {
                "pipeline_key": "spark_job",
                "run_key": "s1",
                "status": "COMPLETED",
                "metadata": {"journey": "lake"},
            },
        )
        tick()
        lake = client.get("/api/v1/journeys/lake").json()
        assert lake["source"] == "events"
        assert [c["key"] for c in lake["components"]] == ["spark_job"]
        assert lake["instances"][0]["status"] == "completed"


def test_a_journey_added_to_headgate_yml_appears_once_the_hub_reads_it_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    import time

    root = observed_project(tmp_path / "p", _config(receiver))
    with observed_hub(root, Clock(DAY1)) as served, served.client() as client:
        served.hub.observer.tick()
        assert [j["name"] for j in client.get("/api/v1/journeys").json()["items"]] == ["orders"]
        text = (root / "headgate.yml").read_text()
        text = text.replace("  rules:", "    - name: billing\n      path: [invoices]\n  rules:")
        (root / "headgate.yml").write_text(text)
        deadline = time.monotonic() + 30  # the hub looks for changed files every 2 s
        while True:
            served.hub.observer.tick()
            names = [j["name"] for j in client.get("/api/v1/journeys").json()["items"]]
            if names == ["billing", "orders"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert names == ["billing", "orders"]
