"""OpenLineage out: a project's runs post their events to a real hub, read back through
Marquez's API; a wrong config is a clear error; no secret leaves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from headgate.errors import HeadgateError
from headgate.facade import Project
from headgate.observe.openlineage_out import mask, wait_for_emissions
from tests.server.hubs import FILES, auth, make_project, running_hub
from tests.support import write_project

CONFIG = """name: shop
engine:
  type: duckdb
  path: .headgate/warehouse.duckdb
openlineage:
  url: {url}
  namespace: analytics
  api_key_env: TEST_OPENLINEAGE_KEY
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = make_project(tmp_path_factory.mktemp("consumer") / "project")
    with running_hub(root) as url:
        yield url


def get(url: str, path: str, **params: Any) -> Any:
    response = httpx.get(f"{url}/api/v1{path}", params=params, headers=auth(url), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_run_posts_a_job_per_model_with_its_facets(
    hub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TEST_OPENLINEAGE_KEY", auth(hub).get("Authorization", "").removeprefix("Bearer ")
    )
    root = write_project(tmp_path / "shop", FILES, config=CONFIG.format(url=hub))
    with Project.load(root) as project:
        assert project.run().ok
    wait_for_emissions()

    jobs = {j["name"]: j for j in get(hub, "/namespaces/analytics/jobs")["jobs"]}
    assert {"shop.prod", "staging.orders", "marts.revenue"} <= set(jobs)
    revenue = jobs["marts.revenue"]
    assert revenue["inputs"] == [{"namespace": "duckdb://shop", "name": "staging.orders"}]
    assert revenue["outputs"] == [{"namespace": "duckdb://shop", "name": "marts.revenue"}]
    assert "sum(amount)" in revenue["facets"]["sql"]["query"].lower()
    run = revenue["latestRun"]
    assert run["state"] == "COMPLETED"
    parent = run["facets"]["parent"]
    assert parent["job"] == {"namespace": "analytics", "name": "shop.prod"}
    assert get(hub, f"/jobs/runs/{parent['run']['runId']}")["state"] == "COMPLETED"

    orders = get(hub, "/namespaces/duckdb://shop/datasets/staging.orders")
    assert [f["name"] for f in orders["fields"]] == ["order_id", "customer", "amount", "status"]
    assertions = orders["facets"]["dataQualityAssertions"]["assertions"]
    assert {(a["assertion"], a["column"], a["success"]) for a in assertions} >= {
        ("not_null", "order_id", True),
        ("unique", "order_id", True),
    }
    lineage = get(hub, "/namespaces/duckdb://shop/datasets/marts.revenue")["facets"]
    revenue_from = lineage["columnLineage"]["fields"]["revenue"]["inputFields"]
    assert revenue_from == [
        {"namespace": "duckdb://shop", "name": "staging.orders", "field": "amount"}
    ]
    graph = get(hub, "/lineage", nodeId="dataset:duckdb://shop:marts.revenue", depth=5)["graph"]
    assert "job:analytics:staging.orders" in {node["id"] for node in graph}
    columns = get(
        hub, "/column-lineage", nodeId="datasetField:duckdb://shop:marts.revenue:revenue"
    )["graph"]
    by_id = {node["id"]: node for node in columns}
    assert set(by_id) == {
        "datasetField:duckdb://shop:marts.revenue:revenue",
        "datasetField:duckdb://shop:staging.orders:amount",
        "datasetField:duckdb://shop:shop.orders:amount",
    }
    assert by_id["datasetField:duckdb://shop:staging.orders:amount"]["inEdges"] == [
        {
            "origin": "datasetField:duckdb://shop:shop.orders:amount",
            "destination": "datasetField:duckdb://shop:staging.orders:amount",
        }
    ]
    downstream = get(
        hub,
        "/column-lineage",
        nodeId="datasetField:duckdb://shop:staging.orders:amount",
        depth=1,
        withDownstream="true",
    )["graph"]
    assert "datasetField:duckdb://shop:marts.revenue:revenue" in {n["id"] for n in downstream}


def test_a_failed_build_posts_its_error_without_a_secret(
    hub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TEST_OPENLINEAGE_KEY", auth(hub).get("Authorization", "").removeprefix("Bearer ")
    )
    broken = {
        **FILES,
        "models/marts/broken.sql": "select no_such_column from staging.orders",
    }
    config = CONFIG.format(url=hub).replace("analytics", "failing")
    root = write_project(tmp_path / "shop", broken, config=config)
    with Project.load(root) as project:
        assert not project.run().ok
    wait_for_emissions()
    job = get(hub, "/namespaces/failing/jobs/marts.broken")
    assert job["latestRun"]["state"] == "FAILED"
    assert "no_such_column" in job["latestRun"]["facets"]["errorMessage"]["message"]
    assert get(hub, "/namespaces/failing/jobs/shop.prod")["latestRun"]["state"] == "FAILED"


def test_a_url_with_credentials_is_refused_with_where_to_put_them(tmp_path: Path) -> None:
    config = CONFIG.format(url="http://user:pw@marquez:5000")
    root = write_project(tmp_path / "shop", FILES, config=config)
    with pytest.raises(HeadgateError) as raised, Project.load(root) as project:
        project.loaded  # noqa: B018
    text = raised.value.render()
    assert "headgate.yml" in text and "api_key_env" in text and "pw" not in text


def test_passwords_are_masked_in_anything_posted() -> None:
    text = "connect postgresql://app:hunter2@db:5432/shop failed; password=hunter2"
    assert "hunter2" not in mask(text)
