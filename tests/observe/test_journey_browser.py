"""The journey page in a real Chromium (Debian's): the graph is there, drawn on the server,
its nodes lead to the components' rows, an alert's link explains it, and nothing is
fetched from outside the hub."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import import_or_require, require_service
from tests.observe.observing import Clock, observed_hub, observed_project

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CONFIG = """
observe:
  components:
    - {key: extract, tool: airflow, owner: data-platform}
  journeys:
    - name: orders
      path: [extract, "model:staging.numbers", "model:marts.totals", dashboard]
"""


@pytest.fixture
def chromium() -> Iterator[Any]:
    sync_api = import_or_require("playwright.sync_api", "browser tests")
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        require_service("Chromium", CHROMIUM, "not installed (make chromium installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=found,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


def test_the_journey_graph_in_a_browser(tmp_path: Path, chromium: Any) -> None:
    root = observed_project(tmp_path / "p", CONFIG)
    clock = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    with observed_hub(root, clock) as served, served.client() as client:
        base = {"pipeline_key": "extract", "run_key": "e1"}
        client.post("/api/v1/events/run-status", json={**base, "status": "FAILED"})
        served.hub.observer.tick()
        context = chromium.new_context(
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
