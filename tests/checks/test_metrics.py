"""Per-run metrics: the numbers a monitor charts, from one scan of a real DuckDB table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from headgate.checks.metrics import collect_metrics
from headgate.checks.spc import control_chart, monitor_spec
from headgate.engines.base import Engine
from headgate.engines.duckdb import DuckDBSession
from headgate.errors import HeadgateError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ORDERS = pa.table(
    {
        "id": pa.array([1, 2, 3, 4, 5, 6, 7, 8], pa.int64()),
        "amount": pa.array([10.0, 20.0, None, 30.0, 40.0, None, 50.0, 60.0], pa.float64()),
        "status": ["placed", "shipped", "shipped", "placed", None, "shipped", "placed", "placed"],
        "paid": [True, True, False, True, True, False, True, True],
        "ordered_at": pa.array(
            [datetime(2026, 11, d, 8) for d in (12, 13, 14, 15, 16, 17, 18, 20)], pa.timestamp("us")
        ),
        "shipped_on": pa.array([None] * 6 + [datetime(2026, 11, 19).date()] * 2, pa.date32()),
    }
)


class RecordingSession(DuckDBSession):
    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        super().__init__(cursor)
        self.statements: list[str] = []

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        self.statements.append(sql)
        return super().execute(sql)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[RecordingSession]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("CREATE SCHEMA shop")
    session = RecordingSession(connection.cursor())
    session.create_table_from_arrow("shop.orders", ORDERS)
    session.statements.clear()
    yield session
    connection.close()


def test_metrics_describe_the_table(warehouse: RecordingSession) -> None:
    metrics = collect_metrics(warehouse, "shop.orders", now=NOW)

    assert metrics["row_count"] == 8
    assert metrics["null_fraction:amount"] == 0.25
    assert metrics["null_fraction:status"] == 0.125
    assert metrics["distinct_fraction:status"] == 2 / 7
    assert metrics["distinct_fraction:id"] == 1.0
    assert metrics["mean:amount"] == 35.0
    assert (metrics["min:amount"], metrics["max:amount"]) == (10.0, 60.0)
    assert metrics["mean:paid"] == 0.75  # the share of true
    newest = datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp()
    assert metrics["max:ordered_at"] == newest
    assert metrics["freshness_lag:ordered_at"] == 4 * 3600
    assert metrics["freshness_lag:shipped_on"] == 36 * 3600  # a date is midnight UTC
    assert "mean:status" not in metrics and "min:status" not in metrics


def test_metrics_come_from_one_scan(warehouse: RecordingSession) -> None:
    collect_metrics(warehouse, "shop.orders", now=NOW)
    describe, scan = warehouse.statements
    assert describe.startswith("DESCRIBE")
    assert scan.count("FROM") == 1 and "APPROX_COUNT_DISTINCT" in scan


def test_time_columns_choose_the_freshness_metrics(warehouse: RecordingSession) -> None:
    metrics = collect_metrics(warehouse, "shop.orders", time_columns=["ordered_at"], now=NOW)
    assert [k for k in metrics if k.startswith("freshness_lag")] == ["freshness_lag:ordered_at"]
    with pytest.raises(HeadgateError, match="not a date or timestamp column"):
        collect_metrics(warehouse, "shop.orders", time_columns=["status"], now=NOW)


def test_an_empty_table_has_a_row_count_and_nothing_to_average(
    warehouse: RecordingSession,
) -> None:
    warehouse.execute("CREATE TABLE shop.empty AS SELECT * FROM shop.orders LIMIT 0")
    assert collect_metrics(warehouse, "shop.empty", now=NOW) == {"row_count": 0.0}


def test_a_monitor_charts_the_metric_over_runs(warehouse: RecordingSession) -> None:
    spec = monitor_spec({"metric": "null_fraction", "column": "amount"})
    warehouse.execute("CREATE TABLE shop.batch AS SELECT * FROM shop.orders")
    history = []
    for run in range(10):  # each run loads the same eight rows, two without an amount
        if run:
            warehouse.execute("INSERT INTO shop.orders SELECT * FROM shop.batch")
        history.append(collect_metrics(warehouse, "shop.orders", now=NOW)[spec.key])
    assert control_chart(history).verdict == "in control"

    warehouse.execute("UPDATE shop.orders SET amount = NULL WHERE id <= 4")  # a bad load
    broken = collect_metrics(warehouse, "shop.orders", now=NOW)[spec.key]
    chart = control_chart([*history, broken])
    assert chart.verdict == "out of control"
    assert [f.rule for f in chart.flags] == [1]


@pytest.mark.services
def test_postgres_metrics_agree_with_duckdb(
    postgres_engine: Engine, pg_prefix: str, warehouse: RecordingSession
) -> None:
    """The same table on the PostgreSQL engine gives the same metrics."""
    schema = pg_prefix + "metrics"
    postgres_engine.ensure_schema(schema)
    postgres = postgres_engine.session()
    postgres.create_table_from_arrow(
        f"{schema}.orders", warehouse.arrow("SELECT * FROM shop.orders")
    )
    theirs = collect_metrics(postgres, f"{schema}.orders", dialect="postgres", now=NOW)
    assert theirs == pytest.approx(collect_metrics(warehouse, "shop.orders", now=NOW))
