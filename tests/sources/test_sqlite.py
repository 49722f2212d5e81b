"""Reading SQLite files into Arrow: declared types, sparse columns, incremental reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from headgate.engines.duckdb import DuckDBEngine
from headgate.project.config import DuckDBEngineConfig
from headgate.sources import SourceError, SQLiteSourceConfig, read_table


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose ``data/shop.sqlite`` has orders with a sparse ``note`` column."""
    (tmp_path / "data").mkdir()
    connection = sqlite3.connect(tmp_path / "data" / "shop.sqlite")
    connection.execute(
        """CREATE TABLE orders (id INTEGER PRIMARY KEY, customer VARCHAR(50), amount REAL,
           price NUMERIC, paid BOOLEAN, ordered_at TIMESTAMP, note TEXT, raw BLOB, extra)"""
    )
    rows = [
        (
            i,
            f"kunde-{i} ✓",
            i * 1.5,
            i,
            i % 2,
            f"2024-01-{1 + i % 28:02d} 10:00:00",
            None,
            b"\x00",
            None,
        )
        for i in range(1, 3001)
    ]
    rows[-1] = (*rows[-1][:6], "late note ü", b"\x01", 7)  # first text after 2,999 NULLs
    connection.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()
    return tmp_path


def source(tables: dict[str, Any], url: str = "data/shop.sqlite") -> SQLiteSourceConfig:
    return SQLiteSourceConfig.model_validate({"type": "sqlite", "url": url, "tables": tables})


def read_all(config: SQLiteSourceConfig, table: str, project: Path, **kwargs: Any) -> Any:
    read = read_table(config, table, project_dir=project, **kwargs)
    batches = list(read)
    return read, pa.Table.from_batches(batches, schema=read.schema), batches


def test_declared_types_hold_even_when_the_first_batch_is_all_null(project: Path) -> None:
    config = source({"orders": {"table": "orders", "batch_rows": 500}})
    read, table, batches = read_all(config, "orders", project)
    assert table.num_rows == 3000 and len(batches) >= 6  # streamed in batches of at most 500
    assert all(batch.num_rows <= 500 for batch in batches)
    types = {f.name: f.type for f in read.schema}
    assert types == {
        "id": pa.int64(),
        "customer": pa.string(),
        "amount": pa.float64(),
        "price": pa.float64(),  # integers stored in a NUMERIC column still arrive as one type
        "paid": pa.bool_(),
        "ordered_at": pa.string(),  # SQLite has no date type: text, as stored
        "note": pa.string(),
        "raw": pa.binary(),
        "extra": pa.int64(),  # no declared type: inferred from the values
    }
    last = table.slice(2999).to_pylist()[0]
    assert last["note"] == "late note ü" and last["raw"] == b"\x01" and last["price"] == 3000.0
    assert table.column("customer")[0].as_py() == "kunde-1 ✓"
    assert table.column("paid").to_pylist()[:2] == [True, False]


def test_empty_result_has_the_declared_schema(project: Path) -> None:
    config = source({"none": {"query": "select id, amount, note from orders where id < 0"}})
    read, table, batches = read_all(config, "none", project)
    assert batches == [] and table.num_rows == 0
    assert read.schema == pa.schema(
        [("id", pa.int64()), ("amount", pa.float64()), ("note", pa.string())]
    )


def test_incremental_read_returns_only_newer_rows(project: Path) -> None:
    config = source(
        {
            "by_id": {"table": "orders", "cursor": "id"},
            "by_time": {"query": "select id, ordered_at from orders", "cursor": "ordered_at"},
        }
    )
    first, _, _ = read_all(config, "by_id", project)
    assert first.max_cursor == 3000
    by_time, _, _ = read_all(config, "by_time", project)
    assert by_time.max_cursor == "2024-01-28 10:00:00"
    connection = sqlite3.connect(project / "data" / "shop.sqlite")
    connection.execute(
        "INSERT INTO orders (id, customer, ordered_at) VALUES (3001, 'x', '2024-02-01 09:00:00')"
    )
    connection.commit()
    connection.close()
    again, table, _ = read_all(config, "by_id", project, cursor_after=first.max_cursor)
    assert table.column("id").to_pylist() == [3001] and again.max_cursor == 3001
    newer, table, _ = read_all(config, "by_time", project, cursor_after=by_time.max_cursor)
    assert table.column("id").to_pylist() == [3001] and newer.max_cursor == "2024-02-01 09:00:00"


def test_url_may_be_absolute_or_sqlalchemy_style(project: Path, tmp_path: Path) -> None:
    absolute = str(project / "data" / "shop.sqlite")
    for url in (absolute, f"sqlite:///{absolute}", "sqlite:///data/shop.sqlite"):
        config = source({"n": {"query": "select count(*) as n from orders"}}, url=url)
        _, table, _ = read_all(config, "n", project)
        assert table.to_pylist() == [{"n": 3000}]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    config = source({"orders": {"table": "orders"}}, url="data/nope.sqlite")
    with pytest.raises(SourceError, match=r"SQLite file .*data/nope\.sqlite does not exist"):
        read_table(config, "orders", project_dir=tmp_path)
    assert not (tmp_path / "data" / "nope.sqlite").exists()  # never created by the read


def test_a_column_of_mixed_types_is_named(project: Path) -> None:
    config = source(
        {
            "mixed": {
                "query": "select id, case when id < 10 then id else 'x' || id end as v from orders"
            }
        }
    )
    with pytest.raises(SourceError) as caught:
        list(read_table(config, "mixed", project_dir=project, batch_rows=5))
    assert "column 'v' holds values of more than one type" in caught.value.message
    assert "cast(v as text)" in (caught.value.hint or "")


def test_reading_leaves_the_file_untouched(project: Path) -> None:
    path = project / "data" / "shop.sqlite"
    before = (path.stat().st_mtime_ns, path.read_bytes())
    config = source({"orders": {"table": "orders", "cursor": "customer"}})
    read, table, _ = read_all(config, "orders", project)
    assert table.num_rows == 3000 and read.max_cursor == "kunde-999 ✓"
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["shop.sqlite"]


def test_read_lands_in_duckdb(project: Path) -> None:
    _, table, _ = read_all(source({"orders": {"table": "orders"}}), "orders", project)
    engine = DuckDBEngine.open(DuckDBEngineConfig(path=str(project / "w.duckdb")), project)
    try:
        session = engine.session()
        assert session.create_table_from_arrow("orders", table) == 3000
        total, notes = session.execute("SELECT sum(amount), count(note) FROM orders")[0]
        assert total == pytest.approx(1.5 * 3000 * 3001 / 2) and notes == 1
    finally:
        engine.close()
