"""Reading MariaDB (MySQL protocol) tables into Arrow, whole and incrementally (real server)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pytest

from headgate.engines.duckdb import DuckDBEngine
from headgate.project.config import DuckDBEngineConfig
from headgate.sources import MySQLSourceConfig, SourceError, SourceUnavailable, read_table
from tests.sources.conftest import mysql_connect

pytestmark = pytest.mark.services


def run(url: str, *statements: str) -> None:
    connection = mysql_connect(url)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def source(tables: dict[str, Any]) -> MySQLSourceConfig:
    return MySQLSourceConfig.model_validate(
        {"type": "mysql", "url": "${secret:SHOP_MYSQL_URL}", "tables": tables}
    )


@pytest.fixture
def shop(mysql_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    run(
        mysql_database,
        """CREATE TABLE customers (
            id BIGINT PRIMARY KEY, name VARCHAR(100), visits INT, score DOUBLE,
            lifetime_value DECIMAL(12,2), precise DECIMAL(30,15), huge DECIMAL(50,4),
            seen_at DATETIME(6), updated_at TIMESTAMP(6) NULL, big BIGINT UNSIGNED,
            active BOOLEAN, notes TEXT, doc JSON)""",
        """INSERT INTO customers VALUES
            (1, 'Zoë Ñúñez ✓', 3, 1.5, 1234.56, 123456789012345.123456789012345,
             12345678901234567890123456789012345678901234.5678,
             '2024-03-01 10:00:00.123456', '2024-03-01 10:00:00.5', 18446744073709551615,
             TRUE, '東京 🗼', '{"city": "Köln"}'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (3, 'b', -7, -0.25, -0.01, -1.000000000000001, 0, '2001-01-01', '2024-03-02 00:00:00',
             0, FALSE, '', '[]')""",
    )
    monkeypatch.setenv("SHOP_MYSQL_URL", mysql_database)
    return mysql_database


def read_all(config: MySQLSourceConfig, table: str, tmp_path: Path, **kwargs: Any) -> Any:
    read = read_table(config, table, project_dir=tmp_path, **kwargs)
    batches = list(read)
    return read, pa.Table.from_batches(batches, schema=read.schema), batches


def test_types_and_values_arrive_intact(shop: str, tmp_path: Path) -> None:
    read, table, _ = read_all(source({"c": {"table": "customers"}}), "c", tmp_path)
    types = {f.name: f.type for f in read.schema}
    assert types["id"] == pa.int64() and types["visits"] == pa.int32()
    assert types["lifetime_value"] == pa.decimal128(12, 2)
    assert types["precise"] == pa.decimal128(30, 15)  # scale 15: exact, not cut to 10
    assert types["huge"] == pa.float64()  # wider than 38 digits: double
    assert types["seen_at"] == pa.timestamp("us")
    assert types["updated_at"] == pa.timestamp("us", tz="UTC")
    assert types["big"] == pa.uint64() and types["notes"] == pa.string()
    rows = {row["id"]: row for row in table.to_pylist()}
    assert rows[1]["name"] == "Zoë Ñúñez ✓" and rows[1]["notes"] == "東京 🗼"
    assert rows[1]["precise"] == Decimal("123456789012345.123456789012345")
    assert rows[3]["precise"] == Decimal("-1.000000000000001")
    assert rows[1]["lifetime_value"] == Decimal("1234.56")
    assert rows[1]["seen_at"] == datetime(2024, 3, 1, 10, 0, 0, 123456)
    assert rows[1]["big"] == 18446744073709551615
    assert rows[1]["active"] == 1 and rows[3]["active"] == 0  # MySQL BOOLEAN is TINYINT(1)
    assert all(value is None for key, value in rows[2].items() if key != "id")


def test_timestamp_is_the_same_instant_whatever_the_session_zone(shop: str, tmp_path: Path) -> None:
    run(
        shop,
        "SET time_zone = '+05:00'",
        "INSERT INTO customers (id, updated_at) VALUES (9, '2024-06-01 05:00:00')",
    )
    _, table, _ = read_all(
        source({"c": {"query": "select id, updated_at from customers where id = 9"}}), "c", tmp_path
    )
    assert table.column("updated_at").to_pylist() == [datetime(2024, 6, 1, 0, 0, tzinfo=UTC)]


def test_read_lands_in_duckdb_with_its_types(shop: str, tmp_path: Path) -> None:
    _, table, _ = read_all(source({"c": {"table": "customers"}}), "c", tmp_path)
    engine = DuckDBEngine.open(DuckDBEngineConfig(path=str(tmp_path / "w.duckdb")), tmp_path)
    try:
        session = engine.session()
        session.create_table_from_arrow("customers", table)
        described = {row[0]: row[1] for row in session.execute("DESCRIBE customers")}
        assert described["precise"] == "DECIMAL(30,15)"
        assert described["updated_at"] == "TIMESTAMP WITH TIME ZONE"
        assert described["big"] == "UBIGINT"
        assert session.execute("SELECT sum(lifetime_value) FROM customers")[0][0] == Decimal(
            "1234.55"
        )
    finally:
        engine.close()


def test_incremental_by_id_and_by_timestamp(shop: str, tmp_path: Path) -> None:
    config = source(
        {
            "by_id": {"table": "customers", "cursor": "id", "batch_rows": 1},
            "by_time": {"table": "customers", "cursor": "updated_at"},
        }
    )
    first, table, batches = read_all(config, "by_id", tmp_path)
    assert first.max_cursor == 3 and len(batches) == 3
    by_time, _, _ = read_all(config, "by_time", tmp_path)
    assert by_time.max_cursor == datetime(2024, 3, 2, tzinfo=UTC)
    run(
        shop,
        "INSERT INTO customers (id, name, updated_at) VALUES "
        "(4, 'older', '2024-03-01 11:00:00'), (5, 'newer', '2024-03-02 00:00:00.000001')",
    )
    again, table, _ = read_all(config, "by_id", tmp_path, cursor_after=first.max_cursor)
    assert sorted(table.column("id").to_pylist()) == [4, 5] and again.max_cursor == 5
    newer, table, _ = read_all(config, "by_time", tmp_path, cursor_after=by_time.max_cursor)
    assert table.column("name").to_pylist() == ["newer"]
    assert newer.max_cursor == datetime(2024, 3, 2, 0, 0, 0, 1, tzinfo=UTC)


def test_text_cursor_uses_the_case_insensitive_collation(shop: str, tmp_path: Path) -> None:
    run(
        shop,
        "CREATE TABLE codes (code VARCHAR(10) COLLATE utf8mb4_general_ci, n INT)",
        "INSERT INTO codes VALUES ('a', 1), ('B', 2)",
    )
    config = source({"codes": {"table": "codes", "cursor": "code"}})
    read, table, _ = read_all(config, "codes", tmp_path)
    # byte order says 'a' > 'B'; the column's collation says 'B' > 'a', and so must the read
    assert table.num_rows == 2 and read.max_cursor == "B"
    run(shop, "INSERT INTO codes VALUES ('it''s', 3)")
    read, table, _ = read_all(config, "codes", tmp_path, cursor_after=read.max_cursor)
    assert table.column("code").to_pylist() == ["it's"] and read.max_cursor == "it's"
    read, table, _ = read_all(config, "codes", tmp_path, cursor_after="it's")
    assert table.num_rows == 0 and read.max_cursor is None


def test_bad_password_is_terminal_and_never_shown(
    mariadb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = urlsplit(mariadb_url)
    monkeypatch.setenv(
        "SHOP_MYSQL_URL", f"mysql://root:Wr0ng%40Pass@{parts.hostname}:{parts.port or 3306}/test"
    )
    with pytest.raises(SourceError) as caught:
        read_table(
            source({"c": {"table": "customers"}}), "c", project_dir=tmp_path, source_name="shop"
        )
    text = caught.value.render()
    assert not caught.value.transient and "Access denied" in text
    assert "Wr0ng" not in text and "source 'shop' table 'c'" in text
    assert "password" in (caught.value.hint or "")


def test_unreachable_server_fails_fast_and_transient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_MYSQL_URL", "mysql://root:S3cret-9@127.0.0.1:1/test")
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        read_table(source({"c": {"table": "customers"}}), "c", project_dir=tmp_path)
    assert time.monotonic() - started < 60  # a refused connection is not retried for minutes
    assert "S3cret-9" not in caught.value.render() and "127.0.0.1:1" in caught.value.message


def test_missing_table_names_it(shop: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        read_table(source({"c": {"table": "no_such_table"}}), "c", project_dir=tmp_path)
    assert "no_such_table" in caught.value.message and "table name" in (caught.value.hint or "")
