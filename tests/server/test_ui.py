"""The web UI's pages, rendered by a real hub on a free loopback port."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.hubs import auth, commit_on_branch, make_project, running_hub

pytestmark = pytest.mark.fast

DOUBLED = """
/* headgate:
description: Revenue per customer.
columns:
  revenue: {description: Sum of amounts.}
checks:
  - row_count: {min: 1}
*/
select customer, sum(amount) * 2 as revenue, count(*) as orders
from staging.orders where status <> 'cancelled' group by customer
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("ui") / "shop")
    scratch = tmp_path_factory.mktemp("ui-branch") / "wt"
    commit_on_branch(root, "double-revenue", {"models/marts/revenue.sql": DOUBLED}, scratch)
    return root


@pytest.fixture(scope="module")
def web(project: Path) -> Iterator[httpx.Client]:
    with (
        running_hub(project, ui=True) as url,
        httpx.Client(base_url=url, timeout=60, headers=auth(url)) as client,
    ):
        yield client


def page(web: httpx.Client, path: str, status: int = 200) -> str:
    answer = web.get(path)
    assert answer.status_code == status, f"{path}: {answer.status_code} {answer.text[:500]}"
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def post(web: httpx.Client, path: str, fields: dict[str, str]) -> httpx.Response:
    answer = web.post(path, data={"form": "1", **fields})
    assert answer.status_code == 303, f"{path}: {answer.status_code} {answer.text[:500]}"
    return answer


def wait_for(web: httpx.Client, path: str, pattern: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while True:
        text = page(web, path)
        if re.search(pattern, text):
            return text
        assert time.monotonic() < deadline, f"{path} never showed {pattern!r}:\n{text[-3000:]}"
        time.sleep(0.2)


def test_every_page_renders_with_what_a_user_looks_for(web: httpx.Client) -> None:
    overview = page(web, "/")
    assert "prod" in overview and "published" in overview and "failing checks" in overview
    assert "run 1" in overview  # the run that built prod
    assert "Sum of amounts." in page(web, "/models/marts.revenue")
    assert "The shop&#39;s exports." in page(web, "/models/shop.orders")
    assert "run 1" in page(web, "/runs")
    assert "Timeline" in page(web, "/runs/1")
    assert "Create an environment" in page(web, "/environments")
    assert "What it publishes" in page(web, "/environments/prod")
    assert "publish exactly the same tables" in page(
        web, "/environments/compare?left=prod&right=prod"
    )
    assert "double-revenue" in page(web, "/review")  # the branch is offered
    assert "revenue_export" in page(web, "/deliveries")
    assert "out/revenue.csv" in page(web, "/deliveries/revenue_export")


def test_pages_load_their_stylesheet_and_script_from_the_hub_only(web: httpx.Client) -> None:
    text = page(web, "/")
    assets = re.findall(r'(?:href|src)="([^"]+\.(?:css|js)[^"]*)"', text)
    assert len(assets) == 2 and all(a.startswith("/static/") for a in assets)
    for asset in assets:
        assert web.get(asset).status_code == 200
    assert "http://" not in text and "https://" not in text  # nothing from a CDN


def test_lineage_draws_every_node_coloured_by_its_data_and_linked_to_its_page(
    web: httpx.Client,
) -> None:
    text = page(web, "/lineage")
    nodes = dict(re.findall(r'<a href="/models/([^"?]+)\?env=prod" class="node s-(\w+)', text))
    # amounts above 15 are tolerated with a warning: the data is published, and flagged
    assert nodes == {"shop.orders": "ok", "staging.orders": "warn", "marts.revenue": "ok"}
    assert text.count('<path class="edge') == 2
    assert "warn 1" in text  # the legend counts them


def test_a_model_page_shows_columns_lineage_checks_failing_rows_and_builds(
    web: httpx.Client,
) -> None:
    text = page(web, "/models/staging.orders")
    assert "One row per order." in text and "data-platform" in text and "core" in text
    assert "from shop.orders" in text  # its SQL
    assert "The order&#39;s id." in text
    assert "shop.orders.amount" in text  # amount is computed from the source's column
    assert "staging.orders.amount.range" in text and "Failing rows" in text
    assert "22.5" in text  # a failing row of the warning check
    assert "row count per build" in text  # the row-count control chart
    assert '<svg class="control"' in text
    assert "run 1" in text and "300" in text  # its build: run 1, 300 rows
    revenue = page(web, "/models/marts.revenue")
    assert "revenue_export" in revenue  # the delivery downstream


def test_a_mistake_is_a_page_saying_what_to_do(web: httpx.Client) -> None:
    text = page(web, "/models/staging.order", status=404)
    assert "no model or source named" in text and "staging.orders" in text
    text = page(web, "/lineage?env=nowhere", status=404)
    assert "no environment named" in text and "prod" in text


def test_an_export_is_downloaded_and_a_run_is_started_and_followed(web: httpx.Client) -> None:
    export = web.get("/deliveries/revenue_export/file?download=1")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    assert export.text.startswith('"customer","revenue","orders"')
    refused = web.post("/runs", data={"form": "1", "environment": "prod"})
    assert refused.status_code == 403 and "prod is protected" in refused.text
    job = post(web, "/environments", {"name": "dev-run", "source": "prod"}).headers["location"]
    wait_for(web, f"{job}/live", r'data-live="done"')
    started = post(web, "/runs", {"environment": "dev-run"})
    location = started.headers["location"]
    assert re.fullmatch(r"/runs/\d+", location)
    live = wait_for(web, f"{location}/live", r'data-live="success"')
    assert "dev-run is up to date" in live or "finished" in live


def test_a_branch_is_reviewed_built_deployed_and_rolled_back(web: httpx.Client) -> None:
    review = page(web, "/review?revision=double-revenue&target=prod")
    assert "marts.revenue" in review and "direct" in review
    assert "* 2" in review  # the SQL diff
    assert "Build in review-double-revenue" in review
    built = post(web, "/review/build", {"revision": "double-revenue", "target": "prod"})
    wait_for(web, f"{built.headers['location']}/live", r'data-live="success"')
    review = page(web, "/review?revision=double-revenue&target=prod")
    assert "Deploy to prod" in review
    assert "Data diff against prod" in review
    state = re.search(r'name="expect_state" value="(\w+)"', review)
    assert state is not None
    fields = {"revision": "double-revenue", "target": "prod", "expect_state": state.group(1)}
    confirm = web.post("/review/deploy", data=fields)
    assert confirm.status_code == 200 and "Yes, deploy to prod" in confirm.text
    assert "marts.revenue" in confirm.text
    job = post(web, "/review/deploy", {**fields, "confirmed": "yes"}).headers["location"]
    done = wait_for(web, f"{job}/live", r'data-live="done"')
    assert "is now published in prod" in done
    history = page(web, "/environments/prod")
    assert "deploy from" in history and "review-double-revenue" in history
    confirm = web.post("/environments/prod/rollback", data={})
    assert confirm.status_code == 200 and "Yes, roll back prod" in confirm.text
    target = re.search(r'name="to" value="(\d+)"', confirm.text)
    assert target is not None
    job = post(
        web, "/environments/prod/rollback", {"to": target.group(1), "confirmed": "yes"}
    ).headers["location"]
    done = wait_for(web, f"{job}/live", r'data-live="done"')
    assert "publishes again what deployment" in done
    assert "back to #" in page(web, "/environments/prod")


def test_an_environment_is_created_from_a_form_and_compared(web: httpx.Client) -> None:
    job = post(web, "/environments", {"name": "dev-ui", "source": "prod"}).headers["location"]
    wait_for(web, f"{job}/live", r'data-live="done"')
    text = page(web, "/environments/compare?left=dev-ui&right=prod")
    assert "publish exactly the same tables" in text
    assert "dev-ui" in page(web, "/environments")


REPORT = """
type: report
title: Revenue
sections:
  - title: Revenue per customer
    query: "select customer, revenue from marts.revenue order by customer"
    chart: {type: bar, x: customer, y: revenue}
output: out/reports/revenue.html
pdf: off
"""


def test_a_report_is_run_from_the_page_and_shown_in_it(web: httpx.Client, project: Path) -> None:
    (project / "deliveries" / "revenue_report.yml").write_text(REPORT)
    job = post(web, "/deliveries/run", {"environment": "prod"}).headers["location"]
    done = wait_for(web, f"{job}/live", r'data-live="(done|failed)"')
    assert "revenue_report" in done and "delivered" in done
    text = page(web, "/deliveries/revenue_report")
    frame = re.search(r'<iframe class="report"[^>]* src="([^"]+)"', text)
    assert frame is not None and "sandbox" in frame.group(0)
    shown = web.get(frame.group(1).replace("&amp;", "&"))
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert "Revenue per customer" in shown.text and "<svg" in shown.text
    assert "sandbox" in shown.headers["content-security-policy"]
