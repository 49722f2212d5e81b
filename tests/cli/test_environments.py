"""Environments, deployments and rollbacks as a team uses them from the command line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.support import cli, cli_json, write_project

FILES = {
    "models/staging/orders.sql": "select * from (values (1, 10), (2, 20)) as t(order_id, amount)",
    "models/staging/orders.yml": "columns:\n  order_id:\n    checks: [not_null, unique]\n",
    "models/marts/revenue.sql": "select sum(amount) as revenue from staging.orders",
}


def revenue(root: Path, env: str) -> object:
    return cli_json(root, "query", "select revenue from marts.revenue", "--env", env)["rows"][0][
        "revenue"
    ]


def physical_tables(root: Path) -> int:
    with duckdb.connect(str(root / ".headgate/warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'headgate_physical'"
        ).fetchall()
    return int(rows[0][0])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    return root


def test_an_environment_costs_no_data_and_isolates_changes(root: Path) -> None:
    tables = physical_tables(root)
    created = cli(root, "env", "create", "test", "--from", "prod", check=True)
    assert "no data copied" in created.stdout
    assert physical_tables(root) == tables
    assert revenue(root, "test") == 30
    listed = {e["name"]: e for e in cli_json(root, "env", "list")["environments"]}
    assert listed["test"]["from_environment"] == "prod" and listed["test"]["models"] == 2

    (root / "models/marts/revenue.sql").write_text(
        "select sum(amount) * 10 as revenue from staging.orders"
    )
    result = cli_json(root, "run", "--env", "test")
    built = {m["name"] for m in result["models"] if m["status"] == "built"}
    assert built == {"marts.revenue"}  # staging.orders is shared with prod, not rebuilt
    assert revenue(root, "test") == 300 and revenue(root, "prod") == 30


def test_deploy_promotes_the_tested_tables_and_rollback_returns(root: Path) -> None:
    cli(root, "env", "create", "test", check=True)
    (root / "models/marts/revenue.sql").write_text(
        "select sum(amount) * 10 as revenue from staging.orders"
    )
    cli(root, "run", "--env", "test", check=True)
    tables = physical_tables(root)
    deployed = cli_json(root, "deploy", "--from", "test", "--to", "prod")
    assert [m["name"] for m in deployed["models"]] == ["marts.revenue"]
    assert revenue(root, "prod") == 300
    assert physical_tables(root) == tables  # nothing rebuilt, nothing copied

    history = cli_json(root, "deployments", "--env", "prod")["deployments"]
    assert [d["kind"] for d in history][:2] == ["deploy", "run"]
    assert history[0]["from_environment"] == "test" and history[0]["username"]

    back = cli_json(root, "rollback", "prod")
    assert back["rolled_back_to"] == history[1]["id"]
    assert revenue(root, "prod") == 30
    forward = cli_json(root, "rollback", "prod", "--to", str(history[0]["id"]))
    assert forward["models"] == 1
    assert revenue(root, "prod") == 300


def test_deploy_refuses_unchecked_or_failed_tables(root: Path) -> None:
    cli(root, "env", "create", "test", check=True)
    (root / "models/marts/revenue.sql").write_text(
        "select sum(amount) * 10 as revenue from staging.orders"
    )
    cli(root, "run", "--env", "test", check=True)
    # a new check nobody has run on test's tables yet
    (root / "models/marts/revenue.yml").write_text(
        "columns:\n  revenue:\n    checks:\n      - range: {max: 100}\n"
    )
    refused = cli(root, "deploy", "--from", "test", "--to", "prod")
    assert refused.returncode == 1
    assert "have not run" in refused.stderr and "marts.revenue" in refused.stderr
    tested = cli(root, "test", "--env", "test")
    assert tested.returncode == 1  # 300 is above the new maximum
    refused = cli(root, "deploy", "--from", "test", "--to", "prod")
    assert refused.returncode == 1 and "failed their checks" in refused.stderr
    assert revenue(root, "prod") == 30


def test_deploy_refuses_when_the_target_changed_since_the_plan(root: Path) -> None:
    cli(root, "env", "create", "test", check=True)
    state = cli_json(root, "plan", "--env", "prod")["target_state"]
    (root / "models/marts/revenue.sql").write_text(
        "select sum(amount) + 1 as revenue from staging.orders"
    )
    cli(root, "run", check=True)  # prod moves on after the plan was made
    refused = cli(root, "deploy", "--from", "test", "--to", "prod", "--expect-state", state)
    assert refused.returncode == 1 and "changed since the plan" in refused.stderr
    assert revenue(root, "prod") == 31


def test_delete_and_janitor_free_what_nothing_uses(root: Path) -> None:
    cli(root, "env", "create", "dev", check=True)
    (root / "models/marts/revenue.sql").write_text(
        "select sum(amount) * 10 as revenue from staging.orders"
    )
    cli(root, "run", "--env", "dev", check=True)
    cli(root, "env", "delete", "dev", check=True)
    assert cli(root, "query", "select 1 from marts.revenue", "--env", "dev").returncode == 1
    kept = cli_json(root, "janitor", "--dry-run")
    assert kept["dropped"] == []  # the dev table is still in the deployment history's window
    cleaned = cli_json(root, "janitor", "--retention-days", "0")
    assert len(cleaned["dropped"]) == 1 and "marts__revenue" in cleaned["dropped"][0]
    assert revenue(root, "prod") == 30


def test_prod_cannot_be_deleted(root: Path) -> None:
    done = cli(root, "env", "delete", "prod")
    assert done.returncode == 1 and "rollback" in done.stderr
