"""Files read by Spark's own readers, for a Spark that sees the project's files (a local master).

CSV goes through ``spark.read.csv`` typed by the contract, in PERMISSIVE mode with a
corrupt-record column: a record with a value that does not cast, or with too many or too
few fields, keeps its raw text there and becomes one reject. NDJSON is read line by line
(``spark.read.text``) and parsed by ``from_json`` in PERMISSIVE mode, so a line that is
not a JSON object is kept and rejected, never dropped; Parquet and JSON documents by their
readers. Values that do not cast to the contract's type reject their row, as on DuckDB.

Rejects carry the file, the line, the column, the reason and the raw record, worded as a
DuckDB load words them, so the same bad file has the same rejects on every engine. Spark
does not number a CSV file's records: the lines of the few rejected ones are found in the
file (which a local Spark shares with headgate). A cluster behind Spark Connect cannot see
the files; there headgate reads them locally and sends the tables as Arrow
(``Capabilities.loads_files`` says which an engine does).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from headgate.engines.base import REJECT_FIELDS, FileScan

if TYPE_CHECKING:
    from headgate.engines.spark import SparkWorkSession

CORRUPT = "_headgate_corrupt_record"
LINE = "headgate_line"
# the encodings a file source may name (project/file_options.py), as Java names them
JAVA_CHARSETS = {"utf-8": "UTF-8", "utf-16": "UTF-16LE", "latin-1": "ISO-8859-1"}
REJECT_SCHEMA = (
    "file STRING, line BIGINT, column_name STRING, reason STRING, raw_record STRING, "
    "rejected_at TIMESTAMP_NTZ"
)


def load_file(
    session: SparkWorkSession, scan: FileScan, target: str, rejects: str
) -> tuple[int, int]:
    """Rows (loaded, rejected); the rejects table is written first and the file's table
    last, so a file whose table exists was loaded whole."""
    with session._errors():
        if scan.quarantine is not None:
            good, bad = _empty(session, scan), _quarantined(session, scan)
        elif scan.format in ("csv", "tsv"):
            good, bad = _csv(session, scan)
        elif scan.format == "ndjson" or (scan.format == "json" and not _document(scan)):
            good, bad = _json_lines(session, scan)
        else:
            good, bad = _records(session, scan)
        rejected = _write(session, bad, rejects)
        loaded = _write(session, good, target)
    return loaded, rejected


def _write(session: SparkWorkSession, frame: Any, target: str) -> int:
    """``frame`` as the table ``target`` (replaced): its rows, counted from the table."""
    session.run(f"DROP TABLE IF EXISTS {_quoted(target)}")
    frame.write.format(session.engine.table_format).saveAsTable(_quoted(target))
    return int(session.spark.table(_quoted(target)).count())


def _quoted(qualified: str) -> str:
    return ".".join("`" + part.replace("`", "``") + "`" for part in qualified.split("."))


@functools.lru_cache(maxsize=256)
def spark_type(contract_type: str) -> str:
    """A contract type (DuckDB's spelling) as Spark spells it: VARCHAR -> STRING."""
    return exp.DataType.build(contract_type, dialect="duckdb").sql(dialect="spark")


@functools.lru_cache(maxsize=256)
def duckdb_type_name(contract_type: str) -> str:
    """The name DuckDB's cast errors give a type: ``DECIMAL`` for ``decimal(10, 2)``."""
    import duckdb

    with duckdb.connect(":memory:") as connection:
        row = connection.execute(f"SELECT typeof(CAST(NULL AS {contract_type}))").fetchone()
    return str(row[0] if row else contract_type).split("(", 1)[0]


def _schema(columns: dict[str, str], *, as_text: bool = False) -> str:
    fields = [f"`{c}` {'STRING' if as_text else spark_type(t)}" for c, t in columns.items()]
    return ", ".join([*fields, f"`{CORRUPT}` STRING"])


def _table_frame(session: SparkWorkSession, frame: Any, scan: FileScan) -> Any:
    """The file's rows with the table's columns, in its order (NULL where the file lacks one)."""
    from pyspark.sql import functions as F

    return frame.select(
        *[
            F.col(f"`{c}`") if c in scan.columns else F.lit(None).cast(spark_type(t)).alias(c)
            for c, t in scan.table_columns.items()
        ]
    )


def _empty(session: SparkWorkSession, scan: FileScan) -> Any:
    return session.spark.createDataFrame(
        [], ", ".join(f"`{c}` {spark_type(t)}" for c, t in scan.table_columns.items())
    )


def _rejects_frame(session: SparkWorkSession, rows: list[tuple[Any, ...]]) -> Any:
    from datetime import datetime

    now = datetime.now().replace(microsecond=0)
    return session.spark.createDataFrame([(*row, now) for row in rows], REJECT_SCHEMA)


# --- CSV ----------------------------------------------------------------------------------


def _csv(session: SparkWorkSession, scan: FileScan) -> tuple[Any, Any]:
    from pyspark.sql import functions as F

    options = {
        "header": str(scan.header).lower(),
        "sep": scan.delimiter,
        "quote": scan.quote,
        "escape": scan.escape,
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": CORRUPT,
        "enforceSchema": "true",  # the header's names were read already; fields by position
    }
    if scan.encoding:
        options["encoding"] = JAVA_CHARSETS.get(scan.encoding, scan.encoding)
    frame = session.spark.read.schema(_schema(scan.columns)).options(**options).csv(str(scan.path))
    good = _table_frame(session, frame.filter(F.col(CORRUPT).isNull()), scan)
    failed = frame.filter(F.col(CORRUPT).isNotNull()).collect()
    return good, _rejects_frame(session, _csv_rejects(scan, failed))


def _csv_rejects(scan: FileScan, failed: list[Any]) -> list[tuple[Any, ...]]:
    """One reject per record, its reason worded as DuckDB's CSV reader words it."""
    raws = [str(row[CORRUPT]).rstrip("\r\n") for row in failed]
    lines = _lines_of(scan, raws)
    found = []
    for row, raw, line in zip(failed, raws, lines, strict=True):
        column, reason = _csv_reason(scan, row, raw)
        found.append((scan.relative, line, column, reason, raw))
    return found


def _csv_reason(scan: FileScan, row: Any, raw: str) -> tuple[str | None, str]:
    fields = _fields(scan, raw)
    expected = len(scan.columns)
    if len(fields) > expected:
        return (
            None,
            f"TOO MANY COLUMNS: Expected Number of Columns: {expected} Found: {len(fields)}",
        )
    if len(fields) < expected:
        return None, f"MISSING COLUMNS: Expected Number of Columns: {expected} Found: {len(fields)}"
    failing = [
        (column, value, kind)
        for (column, kind), value in zip(scan.columns.items(), fields, strict=True)
        if value != "" and row[column] is None
    ]
    if not failing:
        return None, f"Spark could not read the record as the contract's {expected} columns"
    reasons = [
        f'CAST: Error when converting column "{column}". Could not convert string "{value}" '
        f"to '{duckdb_type_name(kind)}'"
        for column, value, kind in failing
    ]
    return ", ".join(c for c, _, _ in failing), "; ".join(reasons)


def _fields(scan: FileScan, raw: str) -> list[str]:
    escape_is_quote = scan.escape == scan.quote
    reader = csv.reader(
        [raw],
        delimiter=scan.delimiter,
        quotechar=scan.quote or None,
        escapechar=None if escape_is_quote else scan.escape,
        doublequote=escape_is_quote,
        strict=False,
    )
    return next(reader, [])


def _lines_of(scan: FileScan, raws: list[str]) -> list[int | None]:
    """The line each raw record starts on, in file order (a record seen twice: in turn)."""
    wanted: dict[str, list[int]] = {}
    for index, raw in enumerate(raws):
        wanted.setdefault(raw, []).append(index)
    found: list[int | None] = [None] * len(raws)
    for number, text in _numbered_lines(scan):
        waiting = wanted.get(text)
        if waiting:
            found[waiting.pop(0)] = number
            if not waiting and not any(wanted.values()):
                break
    return found


def _numbered_lines(scan: FileScan) -> Iterator[tuple[int, str]]:
    with open(scan.path, encoding=scan.encoding or "utf-8-sig", errors="replace", newline="") as f:
        for number, text in enumerate(f, start=1):
            yield number, text.rstrip("\r\n")


# --- JSON and Parquet ---------------------------------------------------------------------


def _document(scan: FileScan) -> bool:
    """Whether a ``json`` file is one document (an array of objects), not one object a line."""
    with open(scan.path, "rb") as f:
        start = f.read(4096).lstrip()
    return start[:1] == b"["


def _json_lines(session: SparkWorkSession, scan: FileScan) -> tuple[Any, Any]:
    """Each non-blank line parsed as an object of text fields; the values then cast."""
    from pyspark.sql import functions as F

    lines = _numbered(session, session.spark.read.text(str(scan.path)))
    lines = lines.filter(F.trim("value") != "")
    parsed = F.from_json(
        "value",
        _schema(scan.columns, as_text=True),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT},
    )
    rows = lines.select(LINE, F.col("value").alias("raw"), parsed.alias("r"))
    valid = F.col("r").isNotNull() & F.col(f"r.{CORRUPT}").isNull()
    valid = valid & F.trim("raw").startswith("{")
    fields = rows.select(
        LINE, "raw", valid.alias("valid"), *[F.col(f"r.`{c}`").alias(c) for c in scan.columns]
    )
    return _cast(session, scan, fields, record=F.col("raw"))


def _records(session: SparkWorkSession, scan: FileScan) -> tuple[Any, Any]:
    from pyspark.sql import functions as F

    if scan.format == "parquet":
        frame = session.spark.read.parquet(str(scan.path))
    else:
        frame = session.spark.read.option("multiLine", "true").json(str(scan.path))
    numbered = _numbered(session, frame)
    present = [c for c in scan.columns if c in frame.columns]
    record = F.to_json(F.struct(LINE, *[F.col(f"`{c}`") for c in present]))
    fields = numbered.select(
        LINE,
        F.lit(True).alias("valid"),
        *[
            F.col(f"`{c}`") if c in present else F.lit(None).cast("string").alias(c)
            for c in scan.columns
        ],
    )
    return _cast(session, scan, fields.withColumn("raw", record), record=F.col("raw"))


def _cast(session: SparkWorkSession, scan: FileScan, fields: Any, record: Any) -> tuple[Any, Any]:
    """Rows whose values all cast load; the others are rejected with each failing column."""
    from pyspark.sql import functions as F

    def fails(column: str, kind: str) -> Any:
        value = F.col(f"`{column}`")
        return value.isNotNull() & F.expr(f"try_cast(`{column}` AS {spark_type(kind)})").isNull()

    failing = [fails(c, t) for c, t in scan.columns.items()]
    bad = ~F.col("valid")
    for one in failing:
        bad = bad | one
    typed = fields.filter(~bad).select(
        *[F.col(f"`{c}`").cast(spark_type(t)).alias(c) for c, t in scan.columns.items()]
    )
    reasons = [
        F.when(one, F.lit(f"cannot cast {c} to {t}; ")).otherwise(F.lit(""))
        for one, (c, t) in zip(failing, scan.columns.items(), strict=True)
    ]
    reason = F.when(~F.col("valid"), F.lit("not a JSON object")).otherwise(
        F.concat(*reasons) if reasons else F.lit("")
    )
    rejects = fields.filter(bad).select(
        F.lit(scan.relative).alias("file"),
        F.col(LINE).cast("bigint").alias("line"),
        F.lit(None).cast("string").alias("column_name"),
        reason.alias("reason"),
        record.cast("string").alias("raw_record"),
        F.localtimestamp().alias("rejected_at"),
    )
    return _table_frame(session, typed, scan), rejects.select(*REJECT_FIELDS)


def _numbered(session: SparkWorkSession, frame: Any) -> Any:
    """The rows with their number in the file (from 1), without moving them to one partition:
    each partition's rows are counted once and its offset added."""
    from pyspark.sql import functions as F

    tagged = frame.withColumn("_headgate_part", F.spark_partition_id()).withColumn(
        "_headgate_id", F.monotonically_increasing_id()
    )
    counts = sorted(
        (int(r[0]), int(r[1])) for r in tagged.groupBy("_headgate_part").count().collect()
    )
    offset, offsets = 0, []
    for part, count in counts:
        offsets.append((part, offset))
        offset += count
    start = F.lit(0)
    for part, before in offsets:
        start = F.when(F.col("_headgate_part") == part, F.lit(before)).otherwise(start)
    in_part = F.col("_headgate_id").bitwiseAND(F.lit((1 << 33) - 1))
    return tagged.withColumn(LINE, start + in_part + 1).drop("_headgate_part", "_headgate_id")


def _quarantined(session: SparkWorkSession, scan: FileScan) -> Any:
    """Every line of the file, set aside with the reason."""
    from pyspark.sql import functions as F

    reader = session.spark.read.schema("raw STRING").options(
        sep="\u001f", quote="\u0000", escape="\u0000", header="false"
    )
    if scan.encoding:
        reader = reader.option("encoding", JAVA_CHARSETS.get(scan.encoding, scan.encoding))
    lines = _numbered(session, reader.csv(str(scan.path)))
    return lines.select(
        F.lit(scan.relative).alias("file"),
        F.col(LINE).cast("bigint").alias("line"),
        F.lit(None).cast("string").alias("column_name"),
        F.lit(scan.quarantine).alias("reason"),
        F.col("raw").alias("raw_record"),
        F.localtimestamp().alias("rejected_at"),
    )
