"""The command line pointed at a hub prints what it prints locally."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.server.hubs import auth, commit_on_branch, make_project, running_hub
from tests.support import cli

pytestmark = pytest.mark.fast

READS = [
    ("status",),
    ("status", "--json"),
    ("runs",),
    ("runs", "1", "--json"),
    ("query", "select customer, revenue from marts.revenue order by customer"),
    ("query", "select * from staging.orders order by order_id", "--limit", "5", "--csv"),
    ("query", "select * from staging.orders order by order_id limit 2", "--json"),
    ("failures", "staging.orders.amount.range"),
    ("failures", "staging.orders.amount.rang"),
    ("query", "select * from marts.revenu"),
    ("plan",),
    ("plan", "--env", "nowhere"),
]


def test_reads_through_a_hub_print_the_same_as_locally(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    (project / "models/marts/revenue.sql").write_text(
        (project / "models/marts/revenue.sql").read_text().replace("count(*)", "count(order_id)")
    )  # an uncommitted change for the plans to show
    local = [cli(project, *args) for args in READS]
    with running_hub(project) as url:
        token = auth(url)["Authorization"].split()[1]
        remote = [cli(project, "--hub", url, "--token", token, *args) for args in READS]
    for args, here, there in zip(READS, local, remote, strict=True):
        assert (there.returncode, there.stdout, there.stderr) == (
            here.returncode,
            here.stdout,
            here.stderr,
        ), args


def test_run_deploy_and_rollback_through_a_hub(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    doubled = (
        (project / "models/marts/revenue.sql")
        .read_text()
        .replace("sum(amount) as revenue", "sum(amount) * 2 as revenue")
    )
    commit_on_branch(project, "double", {"models/marts/revenue.sql": doubled}, tmp_path / "wt")
    sql = "select sum(revenue) as total from marts.revenue"
    with running_hub(project) as url:
        hub = {"HEADGATE_HUB": url, "HEADGATE_TOKEN": auth(url)["Authorization"].split()[1]}
        created = httpx.post(
            f"{url}/api/v1/environments", json={"name": "next"}, timeout=60, headers=auth(url)
        )
        assert created.status_code == 201
        built = cli(project, "run", "--env", "next", "--full-refresh", env=hub, check=True)
        assert "built 3 model(s); next published" in built.stdout
        planned = json.loads(cli(project, "plan", "--rev", "double", "--json", env=hub).stdout)
        assert [m["name"] for m in planned["models"]] == ["marts.revenue"]
        before = json.loads(cli(project, "query", sql, "--json", env=hub).stdout)["rows"][0]
        failed = cli(project, "deploy", "--from", "nowhere", env=hub)
        assert failed.returncode == 1 and failed.stderr.startswith("error: ")
        deployed = cli(project, "deploy", "--from", "next", "--to", "prod", "--json", env=hub)
        assert json.loads(deployed.stdout)["from"] == "next"
        rolled = cli(project, "rollback", "prod", env=hub, check=True)
        assert "prod rolled back to deployment" in rolled.stdout
        after = json.loads(cli(project, "query", sql, "--json", env=hub).stdout)["rows"][0]
    assert after == before
