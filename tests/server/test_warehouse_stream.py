"""Large results leave the hub batch by batch: read ahead of the sender, stopped, failed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pytest

from headgate.engines.duckdb import DuckDBEngine
from headgate.errors import EngineError
from headgate.server.api.queries import _arrow
from headgate.server.warehouse import QueryTimeout, record_batches

ROWS = 3_000_000  # many batches (warehouse.BATCH_ROWS)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    held = DuckDBEngine(duckdb.connect(str(tmp_path / "w.duckdb")), tmp_path / "w.duckdb")
    yield held
    held.connection.close()


def reading_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "headgate-read-ahead")


@pytest.mark.parametrize("ahead", [0, 2])
def test_every_row_arrives_in_order(engine: DuckDBEngine, ahead: int) -> None:
    sql = f"select range as i, range::varchar as s from range({ROWS})"
    schema, batches, _ = record_batches(engine, sql, ahead=ahead)
    table = pa.Table.from_batches(list(batches), schema=schema)
    assert table.num_rows == ROWS
    assert table.column("i").to_pylist()[:3] == [0, 1, 2]
    assert table.column("i")[-1].as_py() == ROWS - 1


def test_a_reader_that_stops_early_stops_the_query_and_its_thread(engine: DuckDBEngine) -> None:
    sql = f"select range as i from range({ROWS * 10})"
    _, batches, handle = record_batches(engine, sql, ahead=2)
    next(batches)
    assert handle is not None
    handle.close()
    deadline = time.monotonic() + 30  # only stops a hang
    while reading_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reading_threads() == 0


@pytest.mark.parametrize("ahead", [0, 2])
def test_an_error_half_way_is_the_engines_message(engine: DuckDBEngine, ahead: int) -> None:
    sql = f"select case when range > 2000000 then error('boom') else range end from range({ROWS})"
    _, batches, _ = record_batches(engine, sql, ahead=ahead)
    with pytest.raises(EngineError, match="boom"):
        for _ in batches:
            pass


@pytest.mark.parametrize("ahead", [0, 2])
def test_a_query_past_its_timeout_is_stopped(engine: DuckDBEngine, ahead: int) -> None:
    sql = "select count(*) from range(100000000) a, range(100) b"
    with pytest.raises(QueryTimeout, match="longer than its timeout"):
        _, batches, _ = record_batches(engine, sql, timeout=0.3, ahead=ahead)
        list(batches)


def test_the_arrow_stream_reads_back_whole_with_enum_columns_too(engine: DuckDBEngine) -> None:
    for sql, rows in [
        ("select range as i, range::varchar as s from range(600000)", 600000),
        ("select 'a'::enum('a', 'b') as e, ['b'::enum('a', 'b')] as l from range(3)", 3),
        ("select range as i from range(0)", 0),
    ]:
        schema, batches, _ = record_batches(engine, sql, ahead=2)
        data = b"".join(bytes(part) for part in _arrow(schema, batches))
        table = pa.ipc.open_stream(data).read_all()
        assert table.num_rows == rows
        assert table.schema.names == schema.names


def test_a_short_timeout_is_kept_while_a_long_one_is_watched(engine: DuckDBEngine) -> None:
    _, batches, _ = record_batches(engine, "select 1", timeout=600)  # watched, then done
    list(batches)
    _, waiting, handle = record_batches(engine, f"select range from range({ROWS})", timeout=600)
    next(waiting)  # still open: its timeout is still watched
    sql = "select count(*) from range(100000000) a, range(100) b"
    with pytest.raises(QueryTimeout, match="longer than its timeout"):
        _, batches, _ = record_batches(engine, sql, timeout=0.3)
        list(batches)
    assert handle is not None
    handle.close()


def test_a_large_arrow_result_streams_through_the_hub_whole_or_visibly_cut(
    tmp_path: Path,
) -> None:
    from tests.server.hubs import auth, make_project, running_hub

    sql = f"select range as i, range::varchar as s, 'c' || (range % 13) as c from range({ROWS})"
    failing = (
        f"select case when range > 2000000 then error('boom') else range end from range({ROWS})"
    )
    project = make_project(tmp_path / "shop")
    with (
        running_hub(project) as url,
        httpx.Client(base_url=f"{url}/api/v1", headers=auth(url), timeout=120) as api,
    ):
        with api.stream("POST", "/query", json={"sql": sql, "format": "arrow"}) as answer:
            assert answer.status_code == 200
            table = pa.ipc.open_stream(b"".join(answer.iter_raw())).read_all()
        assert table.num_rows == ROWS
        assert table.column("i")[-1].as_py() == ROWS - 1
        assert table.column("c")[14].as_py() == "c1"
        cut_short = (httpx.HTTPError, pa.ArrowInvalid)  # never read as a complete stream
        with (
            pytest.raises(cut_short),
            api.stream("POST", "/query", json={"sql": failing, "format": "arrow"}) as cut,
        ):
            pa.ipc.open_stream(b"".join(cut.iter_raw())).read_all()
