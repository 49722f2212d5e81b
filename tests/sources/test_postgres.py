"""Reading PostgreSQL tables and queries into Arrow, whole and incrementally (real server)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from headgate.engines.duckdb import DuckDBEngine
from headgate.project.config import DuckDBEngineConfig
from headgate.sources import PostgresSourceConfig, SourceError, SourceUnavailable, read_table
from tests.conftest import libpq_url

pytestmark = pytest.mark.services


def run(url: str, *statements: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def source(url: str, tables: dict[str, Any]) -> PostgresSourceConfig:
    return PostgresSourceConfig.model_validate(
        {"type": "postgres", "url": "${secret:SHOP_DB_URL}", "tables": tables}
    )


@pytest.fixture
def shop(postgres_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """``<schema>.customers`` with every type a user notices; the URL is the secret SHOP_DB_URL."""
    run(
        postgres_url,
        f"CREATE SCHEMA {pg_schema}",
        f"""CREATE TABLE {pg_schema}.customers (
            id bigint PRIMARY KEY, name text, visits integer, score double precision,
            lifetime_value numeric(12,2), ratio numeric, updated_at timestamptz,
            born date, active boolean, profile jsonb, tags text[])""",
        f"""INSERT INTO {pg_schema}.customers VALUES
            (1, 'Zoë Ñúñez ✓', 3, 1.5, 1234.56, 0.333333333333, '2024-03-01 10:00:00+02', '1990-05-17',
             true, '{{"city": "Köln"}}', ARRAY['vip','eu']),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (3, '東京', -7, -0.25, -0.01, 12, '2024-03-02 00:00:00+00', '2001-01-01',
             false, '[]', ARRAY[]::text[])""",
    )
    monkeypatch.setenv("SHOP_DB_URL", postgres_url)
    return postgres_url, pg_schema


def read_all(config: PostgresSourceConfig, table: str, tmp_path: Path, **kwargs: Any) -> Any:
    read = read_table(config, table, project_dir=tmp_path, **kwargs)
    batches = list(read)
    return read, pa.Table.from_batches(batches, schema=read.schema), batches


def test_types_and_values_arrive_intact(shop: tuple[str, str], tmp_path: Path) -> None:
    _, schema = shop
    config = source(shop[0], {"customers": {"table": f"{schema}.customers"}})
    read, table, _ = read_all(config, "customers", tmp_path)
    types = {f.name: f.type for f in read.schema}
    assert types["id"] == pa.int64() and types["visits"] == pa.int32()
    assert types["score"] == pa.float64()
    assert types["lifetime_value"] == pa.decimal128(12, 2)
    assert types["ratio"] == pa.float64()  # numeric without precision: double, as DuckDB reads it
    assert types["updated_at"] == pa.timestamp("us", tz="UTC")
    assert types["born"] == pa.date32() and types["active"] == pa.bool_()
    assert pa.types.is_list(types["tags"]) and types["tags"].value_type == pa.string()
    rows = {row["id"]: row for row in table.sort_by("id").to_pylist()}
    assert rows[1]["name"] == "Zoë Ñúñez ✓" and rows[3]["name"] == "東京"
    assert rows[1]["lifetime_value"] == Decimal("1234.56")
    assert rows[3]["lifetime_value"] == Decimal("-0.01")
    assert rows[1]["updated_at"] == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    assert rows[1]["born"] == date(1990, 5, 17) and rows[1]["tags"] == ["vip", "eu"]
    assert rows[1]["ratio"] == pytest.approx(0.333333333333)
    assert all(value is None for key, value in rows[2].items() if key != "id")
    assert read.max_cursor is None  # no cursor configured


def test_read_lands_in_duckdb_with_its_types(shop: tuple[str, str], tmp_path: Path) -> None:
    config = source(shop[0], {"customers": {"table": f"{shop[1]}.customers"}})
    _, table, _ = read_all(config, "customers", tmp_path)
    engine = DuckDBEngine.open(DuckDBEngineConfig(path=str(tmp_path / "w.duckdb")), tmp_path)
    try:
        engine.ensure_schema("raw")
        session = engine.session()
        assert session.create_table_from_arrow("raw.customers", table) == 3
        described = {row[0]: row[1] for row in session.execute("DESCRIBE raw.customers")}
        assert described["lifetime_value"] == "DECIMAL(12,2)"
        assert described["updated_at"] == "TIMESTAMP WITH TIME ZONE"
        assert described["profile"] == "JSON" and described["tags"] == "VARCHAR[]"
        total, city = session.execute(
            "SELECT sum(lifetime_value), max(profile->>'$.city') FROM raw.customers"
        )[0]
        assert total == Decimal("1234.55") and city == "Köln"
    finally:
        engine.close()


def test_large_table_streams_in_bounded_batches(
    postgres_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run(
        postgres_url,
        f"CREATE SCHEMA {pg_schema}",
        f"CREATE TABLE {pg_schema}.events AS SELECT g AS id, md5(g::text) AS payload "
        "FROM generate_series(1, 50000) AS g",
    )
    monkeypatch.setenv("SHOP_DB_URL", postgres_url)
    config = source(postgres_url, {"events": {"table": f"{pg_schema}.events", "batch_rows": 7000}})
    read, table, batches = read_all(config, "events", tmp_path, batch_rows=999)
    assert table.num_rows == 50000 == read.rows
    assert all(batch.num_rows <= 7000 for batch in batches)  # the table's batch_rows wins
    assert len(batches) >= 8
    assert sorted(table.column("id").to_pylist()) == list(range(1, 50001))


def test_incremental_reads_only_newer_rows_by_id_and_by_time(
    shop: tuple[str, str], tmp_path: Path
) -> None:
    url, schema = shop
    config = source(
        url,
        {
            "by_id": {"table": f"{schema}.customers", "cursor": "id"},
            "by_time": {"table": f"{schema}.customers", "cursor": "updated_at"},
        },
    )
    first, table, _ = read_all(config, "by_id", tmp_path)
    assert table.num_rows == 3 and first.max_cursor == 3
    by_time, table, _ = read_all(config, "by_time", tmp_path)
    assert by_time.max_cursor == datetime(2024, 3, 2, tzinfo=UTC)
    run(
        url,
        f"INSERT INTO {schema}.customers (id, name, updated_at) VALUES "
        "(4, 'late', '2024-03-01 12:00+00'), (5, 'new', '2024-03-05 09:30:00.000001+00')",
    )
    again, table, _ = read_all(config, "by_id", tmp_path, cursor_after=first.max_cursor)
    assert sorted(table.column("id").to_pylist()) == [4, 5] and again.max_cursor == 5
    newer, table, _ = read_all(config, "by_time", tmp_path, cursor_after=by_time.max_cursor)
    assert table.column("name").to_pylist() == ["new"]
    assert newer.max_cursor == datetime(2024, 3, 5, 9, 30, 0, 1, tzinfo=UTC)
    nothing, table, _ = read_all(config, "by_time", tmp_path, cursor_after=newer.max_cursor)
    assert table.num_rows == 0 and nothing.max_cursor is None
    assert nothing.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")


def test_text_cursor_follows_the_database_collation(shop: tuple[str, str], tmp_path: Path) -> None:
    url, schema = shop
    run(
        url,
        f'CREATE TABLE {schema}.codes (code text COLLATE "C", n int)',
        f"INSERT INTO {schema}.codes VALUES ('b', 1), ('B', 2), ('a''x', 3), (NULL, 4)",
    )
    config = source(url, {"codes": {"table": f"{schema}.codes", "cursor": "code"}})
    read, table, _ = read_all(config, "codes", tmp_path)
    assert table.num_rows == 4 and read.max_cursor == "b"
    read, table, _ = read_all(config, "codes", tmp_path, cursor_after="a'x")
    assert sorted(table.column("code").to_pylist()) == ["b"]  # quote in the value is safe


def test_query_entry_and_empty_result_keep_the_schema(
    shop: tuple[str, str], tmp_path: Path
) -> None:
    url, schema = shop
    query = f"select id, lifetime_value from {schema}.customers where lifetime_value > 1000;"
    config = source(url, {"big": {"query": query}, "none": {"query": query.replace("1000", "1e9")}})
    _, table, _ = read_all(config, "big", tmp_path)
    assert table.to_pylist() == [{"id": 1, "lifetime_value": Decimal("1234.56")}]
    read, table, batches = read_all(config, "none", tmp_path)
    assert batches == [] and table.num_rows == 0
    assert read.schema.field("lifetime_value").type == pa.decimal128(12, 2)


def test_a_query_cannot_write_to_the_source(shop: tuple[str, str], tmp_path: Path) -> None:
    url, schema = shop
    run(url, f"CREATE SEQUENCE {schema}.ticket")
    config = source(url, {"bad": {"query": f"select nextval('{schema}.ticket') as n"}})
    with pytest.raises(SourceError, match="read-only transaction") as caught:
        list(read_table(config, "bad", project_dir=tmp_path))
    assert "a source query only reads" in (caught.value.hint or "")
    with psycopg.connect(libpq_url(url)) as connection:
        used = connection.execute(f"select is_called from {schema}.ticket").fetchone()
    assert used == (False,)


def test_decimals_arrive_exact_at_every_precision(shop: tuple[str, str], tmp_path: Path) -> None:
    # up to 18 digits they travel as scaled bigints; wider ones as the driver's text
    url, schema = shop
    edges = [
        ("0", "0", "0"),
        ("-0.01", "-0.0001", "-0.01"),
        ("9999999999.99", "99999999999999.9999", "9999999999999999999999999999.99"),
        ("-9999999999.99", "-99999999999999.9999", "-9999999999999999999999999999.99"),
        ("1234.5", "3.1416", "42"),
    ]
    values = ", ".join(f"({a}, {b}, {c}, {i})" for i, (a, b, c) in enumerate(edges))
    run(
        url,
        f"CREATE TABLE {schema}.d (a numeric(12,2), b numeric(18,4), c numeric(30,2), i int)",
        f"INSERT INTO {schema}.d VALUES {values}, (NULL, NULL, NULL, 99)",
    )
    config = source(url, {"d": {"table": f"{schema}.d", "batch_rows": 2}})
    read, table, _ = read_all(config, "d", tmp_path)
    assert [read.schema.field(n).type for n in "abc"] == [
        pa.decimal128(12, 2),
        pa.decimal128(18, 4),
        pa.decimal128(30, 2),
    ]
    rows = sorted(table.to_pylist(), key=lambda row: row["i"])
    expected = [(Decimal(a), Decimal(b), Decimal(c)) for a, b, c in edges] + [(None, None, None)]
    assert [(row["a"], row["b"], row["c"]) for row in rows] == expected


def test_nan_in_a_decimal_column_is_a_clear_error(shop: tuple[str, str], tmp_path: Path) -> None:
    url, schema = shop
    run(
        url,
        f"CREATE TABLE {schema}.m (v numeric(10,2))",
        f"INSERT INTO {schema}.m VALUES (1), ('NaN')",
    )
    config = source(url, {"m": {"table": f"{schema}.m"}})
    with pytest.raises(SourceError) as caught:
        list(read_table(config, "m", project_dir=tmp_path, source_name="shop_db"))
    assert "source 'shop_db' table 'm': column 'v'" in caught.value.message
    assert "NaN" in (caught.value.hint or "")


def test_unreachable_server_is_transient_and_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_DB_URL", "postgresql://postgres:Sup3r-S3cret@127.0.0.1:1/test")
    config = source("", {"t": {"table": "public.t"}})
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        read_table(config, "t", project_dir=tmp_path, source_name="shop_db")
    assert time.monotonic() - started < 60  # a refused connection is not retried for minutes
    text = caught.value.render()
    assert caught.value.transient
    assert "Sup3r-S3cret" not in text and "source 'shop_db' table 't'" in text
    assert "127.0.0.1:1" in text and "Connection refused" in text


def test_unknown_role_and_missing_table_are_terminal_with_hints(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = libpq_url(postgres_url).replace("postgres@", "no_such_role:pw-x9@", 1)
    monkeypatch.setenv("SHOP_DB_URL", bad)
    with pytest.raises(SourceError) as caught:
        read_table(source("", {"t": {"table": "t"}}), "t", project_dir=tmp_path)
    assert not caught.value.transient and "no_such_role" in caught.value.message
    assert "pw-x9" not in caught.value.render() and "password" in (caught.value.hint or "")
    monkeypatch.setenv("SHOP_DB_URL", postgres_url)
    with pytest.raises(SourceError) as caught:
        read_table(source("", {"t": {"table": "public.no_such_table"}}), "t", project_dir=tmp_path)
    assert "no_such_table" in caught.value.message and "table name" in (caught.value.hint or "")


def test_cursor_mistakes_are_named(shop: tuple[str, str], tmp_path: Path) -> None:
    url, schema = shop
    config = source(
        url,
        {
            "typo": {"table": f"{schema}.customers", "cursor": "updatedat"},
            "whole": {"table": f"{schema}.customers"},
        },
    )
    with pytest.raises(SourceError, match="cursor column 'updatedat' is not among"):
        read_table(config, "typo", project_dir=tmp_path)
    with pytest.raises(SourceError, match="has no 'cursor' column"):
        read_table(config, "whole", project_dir=tmp_path, cursor_after=3)
    with pytest.raises(SourceError, match="no such table in the source"):
        read_table(config, "nope", project_dir=tmp_path)
