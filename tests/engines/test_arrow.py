"""Arrow in and out: what a Python model returns is what it reads back, on every engine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa

from headgate.engines.base import Engine, quote

AWKWARD_TEXT = ["plain", "", None, 'a "quoted" word', "two\nlines", "comma, semicolon; tab\t"]


def sample() -> pa.Table:
    n = len(AWKWARD_TEXT)
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "small": pa.array([1, -2, None, 4, 5, 6], pa.int32()),
            "ratio": pa.array([0.5, -1.25, None, 1e300, float("inf"), 3.0], pa.float64()),
            "label": pa.array(AWKWARD_TEXT, pa.string()),
            "flag": pa.array([True, False, None, True, False, True]),
            "day": pa.array([date(2024, 1, d + 1) for d in range(n)]),
            "at": pa.array(
                [datetime(2024, 1, 1, 12, 30, 15, 123456)] * (n - 1) + [None], pa.timestamp("us")
            ),
            "at_utc": pa.array(
                [datetime(2024, 6, 1, 8, 0, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")
            ),
            "price": pa.array([Decimal("10.25")] * n, pa.decimal128(12, 2)),
        }
    )


def test_a_table_from_arrow_reads_back_as_the_same_values(engine: Engine, schema: str) -> None:
    session = engine.session()
    data = sample()
    target = f"{schema}.from_python"
    assert session.create_table_from_arrow(target, data) == data.num_rows
    back = session.arrow(f"SELECT * FROM {quote(target)} ORDER BY id")
    assert back.column_names == data.column_names
    assert back.to_pylist() == data.to_pylist()
    for name in ("id", "small", "ratio", "label", "flag", "day", "at", "price"):
        assert back.schema.field(name).type == data.schema.field(name).type, name


def test_a_stream_of_batches_loads_without_being_held_whole(engine: Engine, schema: str) -> None:
    batches = [
        pa.record_batch({"n": pa.array(range(start, start + 1000), pa.int64())})
        for start in range(0, 5000, 1000)
    ]
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches))
    session = engine.session()
    assert session.create_table_from_arrow(f"{schema}.stream", reader) == 5000
    assert session.execute(f"SELECT sum(n) FROM {quote(schema + '.stream')}") == [
        (sum(range(5000)),)
    ]


def test_rows_appended_from_arrow_land_by_column_name(engine: Engine, schema: str) -> None:
    session = engine.session()
    target = f"{schema}.appended"
    session.create_table_from_arrow(target, pa.table({"a": [1], "b": ["one"]}))
    session.append_arrow(target, pa.table({"b": ["two"], "a": [2]}))  # the other order
    assert session.execute(f"SELECT a, b FROM {quote(target)} ORDER BY a") == [
        (1, "one"),
        (2, "two"),
    ]


def test_a_query_result_and_an_empty_one_come_out_as_arrow(engine: Engine, schema: str) -> None:
    session = engine.session()
    session.create_table_from_arrow(f"{schema}.t", sample())
    table = quote(f"{schema}.t")
    counted = session.arrow(f"SELECT count(*) AS n, max(label) AS top FROM {table}")
    assert counted.to_pylist() == [{"n": 6, "top": "two\nlines"}]
    empty = session.arrow(f"SELECT id, label FROM {table} WHERE id < 0")
    assert empty.num_rows == 0
    assert empty.column_names == ["id", "label"]
    assert empty.schema.field("id").type == pa.int64()
