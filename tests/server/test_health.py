"""What the pages colour models by: the checks failing on what an environment publishes
now, read from the real store of a built project."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from headgate.facade import Project
from headgate.server.ui.health import environment_health
from tests.server.hubs import auth, make_project, running_hub

pytestmark = pytest.mark.fast


def test_a_failing_warning_shows_until_a_later_result_of_it_passes(tmp_path: Path) -> None:
    with Project.load(make_project(tmp_path / "shop")) as project:
        health = environment_health(project, "prod", deployments=0)
        orders, revenue = health.models["staging.orders"], health.models["marts.revenue"]
        assert (orders.data, revenue.data) == ("warn", "ok")
        assert [p.check_type for p in orders.problems] == ["range"]
        assert orders.status.rows == 300 and health.published == 3

        passed = replace(orders.problems[0], id=None, status="pass", created_at=None)
        project.state.record_check_results(None, [passed])  # e.g. the data was corrected
        health = environment_health(project, "prod", deployments=0)
        assert health.models["staging.orders"].data == "ok"
        assert health.models["staging.orders"].problems == []


def test_an_environments_page_lists_each_published_model_with_its_problems(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "shop")
    with (
        running_hub(root, ui=True) as url,
        httpx.Client(base_url=url, timeout=60, headers=auth(url)) as web,
    ):
        text = web.get("/environments/prod").text
    rows = re.findall(r"<tr>\s*<td><a href=\"/models/([^\"?]+)\?env=prod\".*?</tr>", text, re.S)
    assert sorted(rows) == ["marts.revenue", "shop.orders", "staging.orders"]
    orders = re.search(
        r"<tr>\s*<td><a href=\"/models/staging.orders\?env=prod\".*?</tr>", text, re.S
    )
    assert orders is not None
    assert '<span class="pill s-warn">' in orders.group(0)
    assert '<td class="num">300</td>' in orders.group(0)
    assert re.search(r"<code>[^<]*range[^<]*</code> \(warn\)", orders.group(0))
