"""Arrow to and from PostgreSQL through COPY in CSV: C on both sides, on the session's own connection.

Going through the session's connection (not a second one) keeps a load inside the
transaction it belongs to: a file source's tables and its view commit together.

Types: Arrow's map to PostgreSQL's (nested values become ``jsonb``); a query's columns
map back by their type OID, with PostgreSQL's ``numeric`` without a declared scale read
as float64 and types Arrow has no match for (``interval``, ``uuid``, arrays, ``json``)
read as their text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from headgate.engines.base import quote

CHUNK_ROWS = 65_536

_BY_OID: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    26: pa.int64(),
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
NUMERIC_OID = 1700


def arrow_type(oid: int, precision: int | None, scale: int | None) -> pa.DataType:
    if oid == NUMERIC_OID:
        if precision and scale is not None and 0 < precision <= 38:
            return pa.decimal128(precision, scale)
        return pa.float64()
    return _BY_OID.get(oid, pa.string())


def arrow_schema(description: Sequence[Any] | None) -> pa.Schema:
    """The Arrow schema of a query's result, from psycopg's column descriptions."""
    return pa.schema(
        [
            pa.field(c.name, arrow_type(int(c.type_code), c.precision, c.scale))
            for c in description or []
        ]
    )


def read_copy(data: bytes, schema: pa.Schema) -> pa.Table:
    """``COPY ... TO STDOUT (FORMAT csv)`` output as an Arrow table of ``schema``."""
    if not data:
        return schema.empty_table()
    placeholders = [f"c{i}" for i in range(len(schema))]  # a query may repeat a column name
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=placeholders, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={p: f.type for p, f in zip(placeholders, schema, strict=True)},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    return table.rename_columns(schema.names)


def postgres_type(kind: pa.DataType) -> str:
    """The PostgreSQL column type holding Arrow values of ``kind``."""
    t = pa.types
    if t.is_dictionary(kind):
        return postgres_type(kind.value_type)
    if t.is_boolean(kind):
        return "boolean"
    if t.is_int8(kind) or t.is_int16(kind) or t.is_uint8(kind):
        return "smallint"
    if t.is_int32(kind) or t.is_uint16(kind):
        return "integer"
    if t.is_int64(kind) or t.is_uint32(kind):
        return "bigint"
    if t.is_uint64(kind):
        return "numeric(20, 0)"
    if t.is_float16(kind) or t.is_float32(kind):
        return "real"
    if t.is_float64(kind):
        return "double precision"
    if t.is_decimal(kind):
        return f"numeric({kind.precision}, {kind.scale})"
    if t.is_string(kind) or t.is_large_string(kind) or t.is_null(kind) or _is_string_view(kind):
        return "text"
    if t.is_binary(kind) or t.is_large_binary(kind) or t.is_fixed_size_binary(kind):
        return "bytea"
    if t.is_date(kind):
        return "date"
    if t.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    if t.is_time(kind):
        return "time"
    if t.is_duration(kind):
        return "interval"
    return "jsonb"


def _is_string_view(kind: pa.DataType) -> bool:
    return str(kind) == "string_view"


def column_definitions(schema: pa.Schema) -> str:
    return ", ".join(f"{quote(f.name)} {postgres_type(f.type)}" for f in schema)


def csv_batches(data: pa.Table | pa.RecordBatchReader) -> Iterator[bytes]:
    """The rows as CSV that ``COPY ... FROM STDIN (FORMAT csv)`` reads, a chunk at a time."""
    batches = data.to_batches(max_chunksize=CHUNK_ROWS) if isinstance(data, pa.Table) else data
    options = pacsv.WriteOptions(include_header=False)
    for batch in batches:
        if not batch.num_rows:
            continue
        buffer = io.BytesIO()
        pacsv.write_csv(_writable(batch), buffer, options)
        yield buffer.getvalue()


def _writable(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns CSV cannot carry as PostgreSQL reads them, turned into the text it does read."""
    columns = [_writable_column(column) for column in batch.columns]
    if all(a is b for a, b in zip(columns, batch.columns, strict=True)):
        return batch
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _writable_column(column: pa.Array) -> pa.Array:
    t = pa.types
    kind = column.type
    if t.is_dictionary(kind):
        return _writable_column(column.dictionary_decode())
    if t.is_null(kind):
        return pa.nulls(len(column), pa.string())
    if _is_string_view(kind):
        return column.cast(pa.string())
    if t.is_binary(kind) or t.is_large_binary(kind) or t.is_fixed_size_binary(kind):
        return pa.array(
            [None if v is None else "\\x" + v.hex() for v in column.to_pylist()], pa.string()
        )
    if t.is_timestamp(kind) and kind.unit == "ns":
        return column.cast(pa.timestamp("us", tz=kind.tz), safe=False)
    if t.is_duration(kind):
        micros = column.cast(pa.duration("us")).cast(pa.int64()).to_pylist()
        return pa.array([None if v is None else f"{v} microseconds" for v in micros], pa.string())
    if t.is_float16(kind):
        return column.cast(pa.float32())
    if postgres_type(kind) == "jsonb":
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()],
            pa.string(),
        )
    return column
