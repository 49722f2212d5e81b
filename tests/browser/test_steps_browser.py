"""External steps in a real Chromium: from the lineage to a step's page, run it, follow it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from headgate.facade import Project
from tests.browser.conftest import RunningHub, serve
from tests.browser.test_ui_browser import watch_errors
from tests.server.hubs import FILES
from tests.support import write_project

pytestmark = pytest.mark.browser

STEPS = {
    "steps/load_crm.yml": """
        shell: 'echo "fetched the crm export"'
        downstream: [shop.orders]
    """,
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    root = write_project(tmp_path_factory.mktemp("steps-browser") / "shop", {**FILES, **STEPS})
    with Project.load(root) as project:
        assert project.run().ok
    yield from serve(root)


def test_a_step_is_opened_from_the_lineage_run_alone_and_followed(
    page: Any, hub: RunningHub
) -> None:
    problems = watch_errors(page)
    page.goto(hub.url + "/lineage")
    node = page.locator('a.node.k-step[data-name="steps.load_crm"]')
    assert "step: shell" in node.text_content()
    node.click()
    page.wait_for_url("**/steps/load_crm?env=prod")
    assert page.locator("h1").inner_text() == "steps.load_crm"
    assert page.locator("#step-output").inner_text() == "fetched the crm export"
    assert page.get_by_role("button", name="Run this step in prod").count() == 0  # protected
    created = httpx.post(
        f"{hub.url}/api/v1/environments",
        json={"name": "dev", "from": "prod"},
        params={"wait": 60},
        headers=hub.headers,
        timeout=60,
    )
    assert created.status_code == 201, created.text
    page.reload()
    page.select_option("#env", "dev")
    page.wait_for_url("**/steps/load_crm?env=dev")
    assert "never run here" in page.locator(".page-head").inner_text()
    page.get_by_role("button", name="Run this step in dev").click()
    page.wait_for_url("**/runs/*")
    page.wait_for_selector('#live[data-live="success"]')
    tasks = page.locator("#live table tbody tr")
    assert tasks.count() == 1  # the step alone
    tasks.first.get_by_role("link", name="steps.load_crm").click()
    page.wait_for_url("**/steps/load_crm?env=dev")
    assert page.locator("table tbody tr").count() == 1
    assert page.locator("#step-output").inner_text() == "fetched the crm export"
    assert problems == []
