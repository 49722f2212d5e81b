"""The journey page in a real Chromium (Debian's): the graph is there, drawn on the server,
its nodes lead to the components' rows, an alert's link explains it, and nothing is
fetched from outside the hub."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.observe.observing import Clock, observed_hub, observed_project

pytestmark = pytest.mark.browser

CONFIG = """
observe:
  components:
    - {key: extract, tool: airflow, owner: data-platform}
  journeys:
    - name: orders
      path: [extract, "model:staging.numbers", "model:marts.totals", dashboard]
"""


def test_the_journey_graph_in_a_browser(tmp_path: Path, browser: Any) -> None:
    root = observed_project(tmp_path / "p", CONFIG)
    clock = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    with observed_hub(root, clock) as served, served.client() as client:
        base = {"pipeline_key": "extract", "run_key": "e1"}
        client.post("/api/v1/events/run-status", json={**base, "status": "FAILED"})
        served.hub.observer.tick()
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, extra_http_headers=served.headers
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        outside: list[str] = []
        page.on(
            "request",
            lambda request: (
                outside.append(request.url) if not request.url.startswith(served.url) else None
            ),
        )
        page.goto(f"{served.url}/journeys")
        page.click("text=orders")
        assert page.url.endswith("/journeys/orders")
        nodes = page.locator("svg.journey a.node")
        assert nodes.count() == 4
        failed = page.locator('svg.journey a.node[data-name="extract"]')
        assert failed.get_attribute("data-state") == "failed"
        failed.click()
        assert page.url.endswith("#component-extract")
        row = page.locator('tr[data-component="extract"]')
        assert "failed" in row.inner_text()
        row.locator("a", has_text="alert").click()
        assert "extract: run e1 failed" in page.inner_text("main")
        assert "data-platform" in page.inner_text("main")
        assert outside == []
        context.close()
