"""Exports: every format reads back with the model's rows, and files are replaced atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from headgate.deliveries import run_delivery
from headgate.deliveries.base import DeliveryContext
from headgate.deliveries.export import json_value
from headgate.deliveries.files import atomic_write
from tests.deliveries.support import Warehouse, customer_segments, declare

EXPECTED = customer_segments()


def leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


def export(fmt: str, path: str = "") -> str:
    path = path or f"out/exports/segments.{fmt}"
    return f"type: export\nmodel: marts.customer_segments\nformat: {fmt}\npath: {path}\n"


def test_parquet_reads_back_identical(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    delivery = declare(warehouse.root, "segments", export("parquet"))
    result = run_delivery(delivery, make_context())
    assert result.status == "delivered", result.message
    path = warehouse.root / "out/exports/segments.parquet"
    assert result.outputs == [path]
    assert result.rows == 5
    assert pq.read_table(path).equals(EXPECTED)
    assert leftovers(path.parent) == []


def test_csv_reads_back_with_the_same_rows(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    delivery = declare(warehouse.root, "segments", export("csv"))
    result = run_delivery(delivery, make_context())
    assert result.status == "delivered", result.message
    path = warehouse.root / "out/exports/segments.csv"
    rows = (
        duckdb.connect()
        .execute(
            "SELECT customer_id, segment, lifetime_value::DECIMAL(12, 2), first_order::TIMESTAMP, "
            f"active FROM read_csv('{path}', header = true) ORDER BY customer_id"
        )
        .fetchall()
    )
    assert rows == [tuple(row.values()) for row in EXPECTED.to_pylist()]
    assert '"loyal, ""gold"""' in path.read_text()  # quoting survives commas and quotes


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_and_ndjson_read_back_with_the_same_rows(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext], fmt: str
) -> None:
    delivery = declare(warehouse.root, "segments", export(fmt))
    result = run_delivery(delivery, make_context())
    assert result.status == "delivered", result.message
    text = (warehouse.root / f"out/exports/segments.{fmt}").read_text()
    rows = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    expected = [
        {
            k: (json_value(v) if v is not None and not isinstance(v, str | int) else v)
            for k, v in r.items()
        }
        for r in EXPECTED.to_pylist()
    ]
    assert rows == expected
    assert rows[0]["lifetime_value"] == 1520.75
    assert rows[0]["first_order"] == "2023-01-05T10:00:00"
    assert rows[4]["segment"] is None


def test_the_format_comes_from_the_suffix_and_the_path_from_placeholders(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    delivery = declare(
        warehouse.root,
        "segments",
        "type: export\nmodel: marts.customer_segments\npath: out/{environment}/{name}-{date}.jsonl\n",
    )
    result = run_delivery(delivery, make_context())
    path = warehouse.root / "out/dev-alice/segments-2024-03-15.jsonl"
    assert result.status == "delivered", result.message
    assert result.outputs == [path]
    assert len(path.read_text().splitlines()) == 5


def test_an_export_replaces_the_previous_file_whole(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    path = warehouse.root / "out/exports/segments.csv"
    path.parent.mkdir(parents=True)
    path.write_text("previous export\n")
    previous_inode = path.stat().st_ino
    result = run_delivery(declare(warehouse.root, "segments", export("csv")), make_context())
    assert result.status == "delivered", result.message
    assert path.read_text().startswith('"customer_id"')
    assert path.stat().st_ino != previous_inode  # a new file renamed over the old one
    assert leftovers(path.parent) == []


def test_a_model_that_is_not_published_leaves_the_previous_file(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    path = warehouse.root / "out/exports/gone.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"previous export")
    delivery = declare(
        warehouse.root, "gone", "type: export\nmodel: marts.gone\npath: out/exports/gone.parquet\n"
    )
    result = run_delivery(delivery, make_context())
    assert result.status == "failed"
    assert "model 'marts.gone' is not published in environment 'dev-alice'" in result.message
    assert result.outputs == []
    assert path.read_bytes() == b"previous export"
    assert leftovers(path.parent) == []


def test_a_failure_while_writing_leaves_the_previous_file(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    """CSV cannot hold a list column: the writer fails after the temporary file exists."""
    path = warehouse.root / "out/exports/tags.csv"
    path.parent.mkdir(parents=True)
    path.write_text("previous export\n")
    delivery = declare(
        warehouse.root,
        "tags",
        "type: export\nmodel: marts.customer_tags\npath: out/exports/tags.csv\n",
    )
    result = run_delivery(delivery, make_context())
    assert result.status == "failed"
    assert "cannot write CSV" in result.message and "parquet or json" in result.message
    assert path.read_text() == "previous export\n"
    assert leftovers(path.parent) == []


def test_atomic_write_removes_its_temporary_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as temporary:
        temporary.write_text("half a fi")
        assert temporary.parent == tmp_path  # same folder: the rename stays on one file system
        raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.html"]


def test_an_output_folder_that_cannot_be_made_fails_with_the_path(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    (warehouse.root / "out").write_text("a file where a folder should be")
    result = run_delivery(declare(warehouse.root, "segments", export("csv")), make_context())
    assert result.status == "failed"
    assert result.message.startswith("cannot write") and "out" in result.message
