"""The hub's observer follows the project when the hub reads it again: journeys, rules and
headgate's own components as headgate.yml and the models say now."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.observe.observing import (
    Clock,
    ObservedHub,
    Receiver,
    observed_hub,
    observed_project,
    webhook_receiver,
)

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def _observe(receiver: Receiver, journey: str, path: str, rule: bool) -> str:
    block = f"""
observe:
  components:
    - {{key: extract, kind: batch_pipeline, tool: airflow}}
    - {{key: load, kind: batch_pipeline, tool: airflow}}
    - {{key: report, kind: batch_pipeline, tool: tableau}}
  journeys:
    - name: {journey}
      path: [{path}]
"""
    if rule:
        block += f"""  rules:
    - name: load-failed
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      actions: [{{webhook: {{url: {receiver.url}/hook}}}}]
"""
    return block


def _reloaded(served: ObservedHub) -> None:
    """Wait until the hub has read the changed project files (it looks when idle)."""
    generation = served.hub.generation
    deadline = time.monotonic() + 60  # stops a hang only
    while served.hub.generation == generation:
        assert time.monotonic() < deadline, "the hub never read the changed project again"
        time.sleep(0.05)


def _journeys(client: httpx.Client) -> dict[str, list[str]]:
    items = client.get("/api/v1/journeys").json()["items"]
    return {j["name"]: j["components"] for j in items}


def test_the_observer_follows_a_reloaded_project(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        root = observed_project(
            tmp_path / "p", _observe(receiver, "nightly", "extract, load", rule=False)
        )
        with observed_hub(root, Clock(START)) as served, served.client() as client:
            served.hub.observer.tick()
            assert _journeys(client) == {"nightly": ["extract", "load"]}

            (root / "headgate.yml").write_text(
                "name: watched\n" + _observe(receiver, "hourly", "load, report", rule=True)
            )
            (root / "models/marts/daily.sql").write_text("select 2 as n")
            _reloaded(served)
            served.hub.observer.tick()
            assert _journeys(client) == {"hourly": ["load", "report"]}
            own = {c["key"] for c in client.get("/api/v1/components").json()["items"]}
            assert "model:marts.daily" in own

            event = {
                "event_type": "run-status",
                "pipeline_key": "load",
                "run_key": "r1",
                "status": "FAILED",
                "event_timestamp": START.isoformat(),
            }
            answer = client.post("/api/v1/events/batch", json={"events": [event]})
            assert answer.status_code == 201, answer.text
            served.hub.observer.tick()
            assert receiver.at("/hook"), "the rule added by the reload did not act"
