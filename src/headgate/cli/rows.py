"""A hub's query answer printed batch by batch as it arrives, as ``headgate query`` prints
rows locally (cli/main.py ``print_rows``): the same table, JSON or CSV, character for
character, with one record batch in memory at a time (the table keeps its first rows only).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from headgate.cli.common import jsonable, out

if TYPE_CHECKING:
    import pyarrow as pa

SHOWN_ROWS = 100  # a table shows this many rows and counts the rest, as render_rows does
SLICE_ROWS = 4096  # rows turned into Python values at a time


def print_batches(
    columns: list[str], batches: Iterable[pa.RecordBatch], *, as_json: bool, as_csv: bool
) -> None:
    rows = _rows(batches)
    if as_json:
        _print_json(columns, rows)
    elif as_csv:
        _print_csv(columns, rows)
    else:
        _print_table(columns, rows)


def _rows(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[Any, ...]]:
    """Each row as a tuple of Python values, converted a slice of a batch at a time (a
    whole batch of the hub's, 131,072 rows, as Python objects would be tens of MB)."""
    for batch in batches:
        for start in range(0, batch.num_rows, SLICE_ROWS):
            part = batch.slice(start, SLICE_ROWS)
            values = [part.column(i).to_pylist() for i in range(part.num_columns)]
            yield from zip(*values, strict=True)


def _print_json(columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    """``{"columns": [...], "rows": [{...}, ...]}`` as print_json writes it, row by row."""
    write = sys.stdout.write
    write('{"columns": ' + json.dumps(jsonable(columns), default=str) + ', "rows": [')
    for n, row in enumerate(rows):
        record = jsonable(dict(zip(columns, row, strict=True)))
        write((", " if n else "") + json.dumps(record, default=str))
    write("]}\n")


def _print_csv(columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])


def _print_table(columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    from headgate.cli.render import render_rows

    shown: list[tuple[Any, ...]] = []
    total = 0
    for row in rows:
        total += 1
        if len(shown) < SHOWN_ROWS:
            shown.append(row)
    render_rows(out, columns, shown, max_rows=SHOWN_ROWS, total=total)
