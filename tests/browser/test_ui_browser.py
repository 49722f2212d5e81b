"""The web UI in a real Chromium: every page, the lineage graph, a run followed live, a
branch reviewed, deployed and rolled back, as a person would click through them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import RunningHub, serve
from tests.server.hubs import commit_on_branch, make_project

pytestmark = pytest.mark.browser

DOUBLED = """
/* headgate:
description: Revenue per customer.
checks:
  - row_count: {min: 1}
*/
select customer, sum(amount) * 2 as revenue, count(*) as orders
from staging.orders where status <> 'cancelled' group by customer
"""
PAGES = {
    "/": "Overview",
    "/lineage": "Lineage",
    "/models/staging.orders": "staging.orders",
    "/runs": "Runs",
    "/runs/1": "Run 1",
    "/environments": "Environments",
    "/environments/prod": "prod",
    "/environments/compare?left=prod&right=prod": "prod compared with prod",
    "/review": "Change review",
    "/deliveries": "Deliveries",
    "/deliveries/revenue_export": "revenue_export",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    root = make_project(tmp_path_factory.mktemp("browser") / "shop")
    scratch = tmp_path_factory.mktemp("browser-branch") / "wt"
    commit_on_branch(root, "double-revenue", {"models/marts/revenue.sql": DOUBLED}, scratch)
    yield from serve(root)


def watch_errors(page: Any) -> list[str]:
    """Script errors and failed requests the page meets, to assert there are none."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    return problems


def test_every_page_loads_without_an_error_and_keyboard_focus_shows(
    page: Any, hub: RunningHub
) -> None:
    problems = watch_errors(page)
    for path, heading in PAGES.items():
        page.goto(hub.url + path)
        assert heading in page.locator("h1").first.inner_text(), path
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280, f"{path} is too wide"
    page.goto(hub.url + "/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # the focused link is outlined
    assert problems == []


def test_the_lineage_graph_zooms_and_leads_to_a_model(page: Any, hub: RunningHub) -> None:
    problems = watch_errors(page)
    page.goto(hub.url + "/lineage")
    graph = page.locator("#graph svg")
    before = graph.get_attribute("viewBox")
    page.get_by_role("button", name="Zoom in").click()
    assert graph.get_attribute("viewBox") != before
    page.get_by_role("button", name="Fit").click()
    page.fill("#find", "revenue")
    assert page.locator("a.node.hit").count() == 1
    page.locator('a.node[data-name="staging.orders"]').click()
    page.wait_for_url("**/models/staging.orders?env=prod")
    assert page.locator("h1").inner_text() == "staging.orders"
    assert page.get_by_role("cell", name="staging.orders.amount.range").is_visible()
    assert problems == []


def test_a_run_started_from_the_page_is_watched_until_it_finishes(
    page: Any, hub: RunningHub
) -> None:
    problems = watch_errors(page)
    release = threading.Event()
    # a change ahead of it in the writer lane: the run waits its turn, then runs, live
    created = httpx.post(
        f"{hub.url}/api/v1/environments",
        json={"name": "dev", "from": "prod"},
        params={"wait": 60},
        headers=hub.headers,
        timeout=60,
    )
    assert created.status_code == 201, created.text  # prod is protected: runs go elsewhere
    hub.hub.submit("test", "a change ahead", lambda project: {"held": release.wait(60)})
    page.goto(hub.url + "/runs")
    assert page.locator("#run-env option").all_inner_texts() == ["dev"]
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url("**/runs/*")
    page.evaluate("window.stillTheSamePage = true")
    live = page.locator("#live")
    assert live.get_attribute("data-live") == "running"
    assert "queued" in page.locator("#run-status").inner_text()
    release.set()
    page.wait_for_selector('#live[data-live="success"]')
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded
    assert "success" in page.locator("#run-status").inner_text()
    assert problems == []


def test_a_branch_is_reviewed_deployed_and_rolled_back(page: Any, hub: RunningHub) -> None:
    problems = watch_errors(page)
    page.goto(hub.url + "/review")
    page.fill("#revision", "double-revenue")
    page.select_option("#target", "prod")
    page.get_by_role("button", name="Review").click()
    assert page.get_by_role("cell", name="marts.revenue").is_visible()
    assert page.locator("pre.diff .add").first.is_visible()  # the SQL diff
    page.get_by_role("button", name="Build in review-double-revenue").click()
    page.wait_for_selector('#live[data-live="success"]')
    page.goto(hub.url + "/review?revision=double-revenue&target=prod")
    page.get_by_role("button", name="Deploy to prod…").click()
    assert page.locator("h1").inner_text() == "Deploy review-double-revenue to prod?"
    page.get_by_role("button", name="Yes, deploy to prod").click()
    page.wait_for_selector('#live[data-live="done"]')
    assert "is now published in prod" in page.locator("#job-done").inner_text()
    page.get_by_role("link", name="Continue").click()
    assert page.get_by_text("deploy from").first.is_visible()
    page.locator("form[action='/environments/prod/rollback'] button").first.click()
    page.get_by_role("button", name="Yes, roll back prod").click()
    page.wait_for_selector('#live[data-live="done"]')
    assert "publishes again what deployment" in page.locator("#job-done").inner_text()
    assert problems == []


def test_an_export_is_downloaded_from_its_page(page: Any, hub: RunningHub, tmp_path: Path) -> None:
    page.goto(hub.url + "/deliveries/revenue_export")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").first.click()
    saved = tmp_path / "revenue.csv"
    download.value.save_as(saved)
    assert saved.read_text().startswith('"customer","revenue","orders"')
