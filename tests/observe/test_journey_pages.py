"""The journey pages: the graph drawn on the server with each component's state, and the
page an alert's link opens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.observe.observing import Clock, observed_hub, observed_project

pytestmark = pytest.mark.fast

CONFIG = """
observe:
  components:
    - {key: extract, tool: airflow, owner: data-platform}
    - {key: raw_orders, kind: dataset, schedule: {cron: "0 3 * * *", margin: 15m}}
  journeys:
    - name: orders
      description: From the shop's database to the revenue dashboard.
      path: [extract, raw_orders, "model:staging.numbers", "model:marts.totals", dashboard]
"""


def test_the_journey_page_draws_each_component_with_its_state_and_explains_alerts(
    tmp_path: Path,
) -> None:
    root = observed_project(tmp_path / "p", CONFIG)
    clock = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    with observed_hub(root, clock) as served, served.client() as client:
        tick = served.hub.observer.tick
        tick()
        base = {"pipeline_key": "extract", "run_key": "e1"}
        client.post("/api/v1/events/run-status", json={**base, "status": "RUNNING"})
        client.post("/api/v1/events/run-status", json={**base, "status": "FAILED"})
        clock.now += timedelta(hours=1, minutes=20)
        tick()

        page = client.get("/journeys/orders")
        assert page.status_code == 200, page.text
        html = page.text
        assert '<script src="http' not in html  # nothing from a CDN
        states = dict(re.findall(r'data-name="([^"]+)" data-state="([^"]+)"', html))
        assert states == {
            "extract": "failed",
            "raw_orders": "stale",  # not written by 03:15: an open alert
            "model:staging.numbers": "missing",
            "model:marts.totals": "missing",
            "dashboard": "missing",
        }
        assert html.index('data-name="extract"') < html.index('data-name="dashboard"')
        assert "From the shop&#39;s database" in html or "From the shop's database" in html
        assert "2026-12-02 03:00 UTC" in html  # the next expected write

        listing = client.get("/journeys").text
        assert 'data-journey="orders"' in listing
        alert_ids = re.findall(r'data-alert="(\d+)"', listing)
        assert len(alert_ids) == 2

        failed = client.get("/api/v1/alerts", params={"component": "extract"}).json()
        (alert,) = failed["items"]
        explained = client.get(f"/alerts/{alert['id']}").text
        assert "extract: run e1 failed" in explained
        assert "data-platform" in explained  # its owner
        assert "e1" in explained and "run-status" in explained  # its runs and events
        grouped = client.get("/api/v1/alerts", params={"component": "raw_orders"}).json()
        assert grouped["items"][0]["root_id"] == alert["id"]
        assert (
            f'href="/alerts/{alert["id"]}"'
            in client.get(f"/alerts/{grouped['items'][0]['id']}").text
        )
