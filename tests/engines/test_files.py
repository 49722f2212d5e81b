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


BAD_FILES = """
type: files
tables:
  orders:
    path: data/orders.csv
    columns: {id: BIGINT, customer_id: BIGINT, amount: DOUBLE, status: VARCHAR}
    max_reject_fraction: 90%
  events:
    path: data/events.ndjson
    columns: {id: BIGINT, amount: DOUBLE}
    max_reject_fraction: 90%
  items:
    path: data/items.parquet
    columns: {order_id: BIGINT, price: DOUBLE}
    max_reject_fraction: 90%
  returns:
    path: data/returns_*.csv
    columns: {id: BIGINT, amount: DOUBLE}
    schema_policy: quarantine
"""

BAD_CSV = (
    "id,customer_id,amount,status\n"
    "1,1,2.5,placed\n"
    "2,1,2,ok,x,y\n"  # two fields too many
    "3,x,y,ok\n"  # two values that are not numbers
    "4,1\n"  # two fields missing
    '5,1,"7.25",shipped\n'
    "6,,,\n"
)

BAD_NDJSON = '{"id": 1, "amount": 2.5}\nnot json\n\n{"id": 2, "amount": "x"}\n{"id": 3}\n'


def test_bad_records_are_rejected_alike_on_every_engine(headgate_yml: str, tmp_path: Path) -> None:
    """The same bad files give the same loaded rows and the same rejects, counted and
    worded alike, whichever engine reads them (Spark with its own readers)."""
    root = write_project(
        tmp_path / "project",
        {
            "sources/shop.yml": BAD_FILES,
            "data/orders.csv": BAD_CSV,
            "data/events.ndjson": BAD_NDJSON,
            "data/returns_1.csv": "id,amount\n1,2.5\n",
            "data/returns_2.csv": "id,total\n2,3\n",  # set aside whole: other columns
        },
        config=headgate_yml,
    )
    pq.write_table(
        pa.table({"order_id": [1, 2, 3], "price": ["1.5", "x", None]}), root / "data/items.parquet"
    )
    with Project.load(root) as project:
        run = project.run()
    assert run.status == "success", [t.error for t in run.tasks if t.error]
    details = {t.name: t.detail for t in run.tasks if t.name.startswith("shop.")}
    assert details["shop.orders"] == {"files": 1, "loaded": 3, "rejected": 3}
    assert details["shop.events"] == {"files": 1, "loaded": 2, "rejected": 2}
    assert details["shop.items"] == {"files": 1, "loaded": 2, "rejected": 1}
    assert query(root, "select id, amount, status from shop.orders order by id") == [
        {"id": 1, "amount": 2.5, "status": "placed"},
        {"id": 5, "amount": 7.25, "status": "shipped"},
        {"id": 6, "amount": None, "status": None},
    ]
    rejects = "select line, column_name, reason, raw_record from shop.orders__rejects order by line"
    assert query(root, rejects) == [
        {
            "line": 3,
            "column_name": None,
            "reason": "TOO MANY COLUMNS: Expected Number of Columns: 4 Found: 6",
            "raw_record": "2,1,2,ok,x,y",
        },
        {
            "line": 4,
            "column_name": "customer_id, amount",
            "reason": 'CAST: Error when converting column "customer_id". Could not convert '
            'string "x" to \'BIGINT\'; CAST: Error when converting column "amount". '
            "Could not convert string \"y\" to 'DOUBLE'",
            "raw_record": "3,x,y,ok",
        },
        {
            "line": 5,
            "column_name": None,
            "reason": "MISSING COLUMNS: Expected Number of Columns: 4 Found: 2",
            "raw_record": "4,1",
        },
    ]
    assert query(root, "select id, amount from shop.events order by id") == [
        {"id": 1, "amount": 2.5},
        {"id": 3, "amount": None},
    ]
    events = "select line, reason, raw_record from shop.events__rejects order by line"
    assert query(root, events) == [
        {"line": 2, "reason": "not a JSON object", "raw_record": "not json"},
        {
            "line": 4,
            "reason": "cannot cast amount to DOUBLE; ",
            "raw_record": BAD_NDJSON.splitlines()[3],
        },
    ]
    items = "select line, reason from shop.items__rejects"
    assert query(root, items) == [{"line": 2, "reason": "cannot cast price to DOUBLE; "}]
    assert query(root, "select id, amount from shop.returns") == [{"id": 1, "amount": 2.5}]
    set_aside = "select file, line, reason, raw_record from shop.returns__rejects order by line"
    drift = "data/returns_2.csv drifted from the contract: new column total; missing column amount"
    assert query(root, set_aside) == [
        {
            "file": "data/returns_2.csv",
            "line": n,
            "reason": f"quarantined: {drift}",
            "raw_record": raw,
        }
        for n, raw in ((1, "id,total"), (2, "2,3"))
    ]


def test_a_refused_load_leaves_nothing_that_counts_as_loaded(
    headgate_yml: str, tmp_path: Path
) -> None:
    """Too many rejects refuse the file, and every run after reads it again until the limit
    allows them (an engine without transactions must not keep the refused file's table)."""
    strict = "type: files\ntables:\n  orders:\n    path: data/orders.csv\n"
    strict += "    columns: {id: BIGINT, amount: DOUBLE}\n    max_reject_fraction: 10%\n"
    root = write_project(
        tmp_path / "project",
        {"sources/shop.yml": strict, "data/orders.csv": "id,amount\n1,2.5\n2,x\n"},
        config=headgate_yml,
    )
    for _attempt in range(2):  # the second run reads the file again and refuses it again
        with Project.load(root) as project:
            refused = project.run()
        assert refused.status == "failed"
        error = next(t.error for t in refused.tasks if t.name == "shop.orders")
        assert error is not None and "1 of 2 rows rejected (50.0%)" in error
    (root / "sources/shop.yml").write_text(strict.replace("10%", "60%"))
    with Project.load(root) as project:
        loaded = project.run()
    assert loaded.status == "success", [t.error for t in loaded.tasks if t.error]
    orders = next(t for t in loaded.tasks if t.name == "shop.orders")
    assert orders.detail == {"files": 1, "loaded": 1, "rejected": 1}
