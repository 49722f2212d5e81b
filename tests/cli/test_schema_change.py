"""The README's walk-through: a new source column added end to end and deployed to prod."""

from __future__ import annotations

from pathlib import Path

from tests.support import cli, cli_json, write_project

FILES = {
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders_*.csv}\n",
    "data/orders_1.csv": "order_id,amount\n1,10.5\n2,20.0\n",
    "models/staging/orders.sql": "select order_id, amount from shop.orders",
    "models/staging/orders.yml": """
        checks:
          - contract: {columns: {order_id: BIGINT, amount: DOUBLE}}
    """,
    "models/marts/revenue.sql": "select sum(amount) as revenue from staging.orders",
}


def test_a_new_column_from_source_to_prod(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)

    # 1. the export gains a column: today's file has it
    (root / "data/orders_2.csv").write_text("order_id,amount,channel\n3,4.5,web\n4,1.0,app\n")

    # 2. the plan shows it, and every model it reaches, before anything is built
    plan = {m["name"]: m for m in cli_json(root, "plan")["models"]}
    assert {"column": "channel", "change": "added", "before": None, "after": "VARCHAR"} in plan[
        "shop.orders"
    ]["schema"]
    assert plan["staging.orders"]["change"] == "indirect"
    assert plan["staging.orders"]["breaking"] is False and plan["staging.orders"]["rebuild"] is True
    assert plan["marts.revenue"]["breaking"] is False

    # 3. the source's contract accepts it, the model selects it, a contract and a check promise it
    source = (root / "sources/shop.yml").read_text()
    (root / "sources/shop.yml").write_text(
        source.replace("amount: DOUBLE}", "amount: DOUBLE, channel: VARCHAR}")
    )
    assert "channel: VARCHAR" in (root / "sources/shop.yml").read_text()
    (root / "models/staging/orders.sql").write_text(
        "select order_id, amount, channel from shop.orders"
    )
    (root / "models/staging/orders.yml").write_text(
        "checks:\n"
        "  - contract: {columns: {order_id: BIGINT, amount: DOUBLE, channel: VARCHAR}}\n"
        "columns:\n"
        "  channel:\n"
        "    checks:\n"
        "      - accepted_values: {values: [web, app]}\n"
        "        where: channel is not null\n"
    )

    # 4. built and checked in an environment of one's own
    cli(root, "env", "create", "dev", check=True)
    built = cli_json(root, "run", "--env", "dev")
    assert built["status"] == "success"
    checks = {c["type"]: c["status"] for m in built["models"] for c in m.get("checks", [])}
    assert checks == {"contract": "pass", "accepted_values": "pass"}

    # 5. reviewed against prod: a column added, nothing downstream breaks
    review = {m["name"]: m for m in cli_json(root, "plan", "--env", "prod")["models"]}
    assert "channel" in review["staging.orders"]["columns_changed"]
    assert review["marts.revenue"]["breaking"] is False

    # prod has not changed yet: the new file is only behind dev's view
    assert cli_json(root, "query", "select revenue from marts.revenue")["rows"] == [
        {"revenue": 30.5}
    ]

    # 6. shipped: prod publishes dev's tables, nothing rebuilt
    cli(root, "deploy", "--from", "dev", "--to", "prod", check=True)
    rows = cli_json(
        root, "query", "select channel, count(*) as n from staging.orders group by 1 order by 1"
    )
    assert rows["rows"] == [
        {"channel": "app", "n": 1},
        {"channel": "web", "n": 1},
        {"channel": None, "n": 2},  # the rows that arrived before the column existed
    ]
    assert cli_json(root, "query", "select revenue from marts.revenue")["rows"] == [
        {"revenue": 36.0}
    ]


def test_a_renamed_source_column_breaks_its_readers_in_the_plan(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "data/orders_2.csv").write_text("order_id,total\n3,10.5\n")
    plan = {m["name"]: m for m in cli_json(root, "plan")["models"]}
    changes = {(c["column"], c["change"]) for c in plan["shop.orders"]["schema"]}
    assert {("amount", "removed"), ("total", "added")} <= changes
    assert plan["staging.orders"]["breaking"] is True
    assert plan["staging.orders"]["reads_changed"] == {"shop.orders": ["amount"]}
    assert cli(root, "plan", "--fail-on-breaking").returncode == 3
    # running it anyway fails the model, and prod keeps the data that passed
    failed = cli_json(root, "run")
    assert failed["status"] == "failed"
    assert cli_json(root, "query", "select revenue from marts.revenue")["rows"] == [
        {"revenue": 30.5}
    ]
