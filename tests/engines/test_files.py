"""File sources load the same on every engine: typed by the contract, bad rows to the rejects
table with file, line and reason, files with other columns read as one table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from headgate import Project
from tests.support import write_project

SOURCES = """
type: files
tables:
  orders:
    path: data/orders_*.csv
    columns: {id: BIGINT, amount: DOUBLE}
    schema_policy: evolve
    max_reject_fraction: 50%
  items: {path: data/items.parquet}
  payments:
    {path: data/payments.ndjson, columns: {id: BIGINT, amount: DOUBLE}, max_reject_fraction: 90%}
"""


def query(root: Path, sql: str) -> list[dict[str, Any]]:
    with Project.load(root) as project:
        return project.query(sql).to_pylist()


def test_files_load_with_rejects_and_evolving_columns(headgate_yml: str, tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "project",
        {
            "sources/shop.yml": SOURCES,
            "data/orders_1.csv": "id,amount\n1,10.5\n2,oops\n3,7\n",
            "data/payments.ndjson": '{"id": 1, "amount": 2.5}\nnot json\n{"id": 2, "amount": "x"}\n',
            "models/staging/orders.sql": "select id, amount from shop.orders",
        },
        config=headgate_yml,
    )
    pq.write_table(
        pa.table({"order_id": [1, 1, 3], "sku": ["a", "b", "c"]}), root / "data/items.parquet"
    )
    with Project.load(root) as project:
        first = project.run()
    assert first.status == "success", [t.error for t in first.tasks if t.error]
    assert query(root, "select id, amount from shop.orders order by id") == [
        {"id": 1, "amount": 10.5},
        {"id": 3, "amount": 7.0},
    ]
    rejects = query(root, "select file, line, raw_record from shop.orders__rejects")
    assert rejects == [{"file": "data/orders_1.csv", "line": 3, "raw_record": "2,oops"}]
    assert query(root, "select count(*) as n from shop.items") == [{"n": 3}]
    payments = query(root, "select line, reason from shop.payments__rejects order by line")
    assert [p["line"] for p in payments] == [2, 3]
    assert "not a JSON object" in payments[0]["reason"]
    assert "cannot cast amount" in payments[1]["reason"]

    # a later file with one more column: the table gains it, older rows read NULL there
    (root / "data/orders_2.csv").write_text("id,amount,channel\n4,1.5,web\n")
    with Project.load(root) as project:
        second = project.run()
    assert second.status == "success", [t.error for t in second.tasks if t.error]
    loaded = next(t for t in second.tasks if t.name == "shop.orders")
    assert loaded.detail["files"] == 1  # only the new file is read
    assert query(root, "select id, channel from shop.orders order by id") == [
        {"id": 1, "channel": None},
        {"id": 3, "channel": None},
        {"id": 4, "channel": "web"},
    ]
