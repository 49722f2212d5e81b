"""Per-run metrics of a table in one scan, and the per-engine SQL the profiler shares.

After every build headgate records a few numbers per model (row count, each column's
null and distinct fraction, mean, min, max, and how old the newest timestamp is); the
``monitor`` checks chart them over runs (:mod:`headgate.checks.spc`). They must cost
almost nothing, so :func:`collect_metrics` asks for them in ONE aggregate query with an
approximate distinct count.

The profiler's scan (:mod:`headgate.checks.profile`) is the same kind of query with more
aggregates, so both build it here: :func:`build_scan` takes the aggregates wanted per
column and returns one statement. What engines spell differently is the table
:data:`DIALECTS`, data rather than branches through the code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

from headgate.engines.base import EngineSession, table_expression
from headgate.errors import HeadgateError

QUANTILE_SAMPLE_ROWS = 10_000  # quantiles read a uniform sample this big (exact below it)


def _array(values: Sequence[float]) -> exp.Array:
    return exp.Array(expressions=[exp.Literal.number(v) for v in values])


@dataclass(frozen=True)
class SqlDialect:
    """How one engine spells what headgate's scans ask; everything else is portable SQL."""

    name: str
    columns_query: str | None  # {table} qualified and quoted; None: the session's catalog
    distinct: Callable[[exp.Expr], exp.Expr]
    distinct_exact: bool
    quantiles: Callable[[exp.Expr, Sequence[float]], exp.Expr]
    quantile_source: str  # what quantiles read: {table} itself or a sample of {rows} rows
    text_sample: str  # a subquery reading about {rows} rows ({percent} %) of {table}


DIALECTS: dict[str, SqlDialect] = {
    "duckdb": SqlDialect(
        name="duckdb",
        columns_query="DESCRIBE {table}",
        distinct=lambda x: exp.ApproxDistinct(this=x),
        distinct_exact=False,
        quantiles=lambda x, qs: exp.Anonymous(this="quantile_cont", expressions=[x, _array(qs)]),
        # approx_quantile costs 8x a plain scan on DuckDB 2.0 and reservoir_quantile keeps
        # only the first rows it sees; the sample operator's reservoir is uniform and cheap.
        quantile_source="SELECT * FROM {table} USING SAMPLE RESERVOIR ({rows} ROWS) REPEATABLE (7)",
        text_sample="SELECT * FROM {table} USING SAMPLE {percent} PERCENT (SYSTEM, 7)",
    ),
    "postgres": SqlDialect(
        name="postgres",
        columns_query=None,  # the engine's own catalog read (it knows the names it shortened)
        distinct=lambda x: exp.Count(this=exp.Distinct(expressions=[x])),
        distinct_exact=True,
        quantiles=lambda x, qs: exp.WithinGroup(
            this=exp.Anonymous(this="percentile_cont", expressions=[_array(qs)]),
            expression=exp.Order(expressions=[exp.Ordered(this=x)]),
        ),
        quantile_source="SELECT * FROM {table}",
        # TABLESAMPLE refuses views; the first rows are a sample every relation has.
        text_sample="SELECT * FROM {table} LIMIT {rows}",
    ),
    "spark": SqlDialect(
        name="spark",
        columns_query=None,  # the engine's catalog: Spark's types, in capitals
        distinct=lambda x: exp.ApproxDistinct(this=x),
        distinct_exact=False,
        quantiles=lambda x, qs: exp.Anonymous(
            this="percentile_approx", expressions=[x, _array(qs)]
        ),
        quantile_source="SELECT * FROM {table}",  # percentile_approx sketches in one pass
        text_sample="SELECT * FROM {table} LIMIT {rows}",
    ),
}


def dialect_named(name: str) -> SqlDialect:
    try:
        return DIALECTS[name]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise HeadgateError(f"cannot scan tables in dialect {name!r}; known: {known}") from None


# Column kinds by the start of the engine's type name (upper case), first match wins.
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("boolean", ("BOOL",)),
    ("temporal", ("DATE", "TIMESTAMP", "DATETIME")),
    ("integer", ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "UHUGEINT", "INT", "SERIAL", "BIGSERIAL")),
    ("decimal", ("DECIMAL", "NUMERIC", "FLOAT", "REAL", "DOUBLE")),
    ("string", ("VARCHAR", "TEXT", "CHAR", "BPCHAR", "STRING", "UUID", "ENUM", "CITEXT", "NAME")),
)  # fmt: skip
_PLAIN_TEXT = ("VARCHAR", "TEXT", "CHARACTER VARYING", "STRING")


def column_kind(type_name: str) -> str:
    """``integer``, ``decimal``, ``boolean``, ``temporal``, ``string`` or ``other``."""
    upper = type_name.upper().strip()
    if "[" in upper or upper.startswith(("STRUCT", "MAP", "UNION", "ARRAY", "INTERVAL", "TIME ")):
        return "other"
    if upper in ("TIME", "TIMETZ"):
        return "other"
    for kind, prefixes in _KINDS:
        if upper.startswith(prefixes):
            return kind
    return "other"


@dataclass(frozen=True)
class ColumnInfo:
    """A column as the engine describes it, and the kind of statistics it supports."""

    name: str
    type: str
    kind: str

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "decimal")

    @property
    def is_date(self) -> bool:
        return self.type.upper() == "DATE"

    def expression(self) -> exp.Column:
        return exp.column(self.name, quoted=True)

    def as_text(self) -> exp.Expr:
        """The column as text (plain text columns as they are, others cast)."""
        if self.type.upper().startswith(_PLAIN_TEXT):
            return self.expression()
        return exp.Cast(this=self.expression(), to=exp.DataType.build("TEXT"))


def describe_columns(session: EngineSession, table: str, dialect: SqlDialect) -> list[ColumnInfo]:
    """The table's columns and types, as the engine reports them."""
    if dialect.columns_query is None:
        found = session.columns_of(table)
        if not found:
            raise HeadgateError(f"cannot scan {table}: it does not exist or has no columns")
        return [ColumnInfo(name, kind, column_kind(kind)) for name, kind in found]
    parts = table.split(".")
    schema = exp.Literal.string(parts[-2]).sql() if len(parts) > 1 else "current_schema()"
    sql = dialect.columns_query.format(
        table=table_expression(table).sql(dialect.name),
        schema=schema,
        name=exp.Literal.string(parts[-1]).sql(),
    )
    rows = session.execute(sql)
    if not rows:
        raise HeadgateError(f"cannot scan {table}: it does not exist or has no columns")
    return [ColumnInfo(str(r[0]), str(r[1]), column_kind(str(r[1]))) for r in rows]


def typed_literal(moment: datetime, info: ColumnInfo) -> exp.Expr:
    """``moment`` as a literal of the column's temporal type (naive columns hold UTC)."""
    upper = info.type.upper()
    if upper == "DATE":
        text, target = moment.date().isoformat(), "DATE"
    elif "TZ" in upper or ("TIME ZONE" in upper and "WITHOUT" not in upper):
        text, target = moment.replace(tzinfo=UTC).isoformat(sep=" "), "TIMESTAMPTZ"
    else:
        text, target = moment.replace(tzinfo=None).isoformat(sep=" "), "TIMESTAMP"
    return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build(target))


def derived(query: exp.Expr, alias: str) -> exp.Subquery:
    """``(query) AS alias``, to read from."""
    assert isinstance(query, exp.Query), query
    return query.subquery(alias)


def utc(moment: datetime | None) -> datetime:
    """``moment`` (naive means UTC) or the current time, in UTC."""
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def count_if(condition: exp.Expr) -> exp.Expr:
    return exp.CountIf(this=condition)


def epoch_seconds(value: Any) -> float | None:
    """A timestamp or date from the engine as seconds since 1970 (naive values are UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    return float(value)


def moment_text(seconds: float | None, *, date_only: bool = False) -> str | None:
    """Seconds since 1970 as ISO text in UTC, the way profiles store dates and times.

    Scans fetch times as these seconds (``epoch(...)`` in SQL), not as timestamps: no time
    zone conversion on the way, and DuckDB needs pytz to hand over a TIMESTAMPTZ.
    """
    if seconds is None:
        return None
    moment = datetime(1970, 1, 1) + timedelta(seconds=float(seconds))
    return moment.date().isoformat() if date_only else moment.isoformat(sep=" ")


def json_value(value: Any) -> Any:
    """A value from the engine as JSON holds it: dates and times as ISO text."""
    if isinstance(value, datetime):
        return (value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value).isoformat(
            sep=" "
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


Aggregates = Callable[[ColumnInfo], dict[str, exp.Expr]]


@dataclass
class Scan:
    """One statement computing named aggregates per column; :meth:`read` sorts them back."""

    sql: str
    keys: list[tuple[int, str]]

    def read(self, row: Sequence[Any], columns: int) -> tuple[int, list[dict[str, Any]]]:
        """The row count and, per column, its aggregates by name."""
        stats: list[dict[str, Any]] = [{} for _ in range(columns)]
        for (index, name), value in zip(self.keys, row[1:], strict=True):
            stats[index][name] = value
        return int(row[0]), stats


def build_scan(
    table: str,
    infos: Sequence[ColumnInfo],
    dialect: SqlDialect,
    aggregates: Aggregates,
    *,
    sampled: Aggregates | None = None,
) -> Scan:
    """One query: ``count(*)`` and every column's ``aggregates`` in a single pass.

    ``sampled`` aggregates (quantiles) read the dialect's quantile source, a uniform
    sample on engines where exact quantiles cost a sort of the whole table; they join the
    main aggregates as a one-row subquery, so the caller still runs one statement.
    """
    keys: list[tuple[int, str]] = []
    main: list[exp.Expr] = [exp.Count(this=exp.Star()).as_("a0")]
    extra: list[exp.Expr] = []
    for target, make in ((main, aggregates), (extra, sampled)):
        if make is None:
            continue
        for index, info in enumerate(infos):
            for name, expression in make(info).items():
                keys.append((index, name))
                target.append(expression.as_(f"a{len(keys)}"))
    source = table_expression(table)
    query = exp.select(*main).from_(source.copy())
    if extra:
        text = dialect.quantile_source.format(
            table=source.sql(dialect.name), rows=QUANTILE_SAMPLE_ROWS
        )
        sample = sqlglot.parse_one(text, read=dialect.name)
        side = exp.select(*extra).from_(derived(sample, "s"))
        query = (
            exp.select("*").from_(derived(query, "m")).join(derived(side, "q"), join_type="cross")
        )
    return Scan(query.sql(dialect.name), keys)


_PLACEHOLDER = "headgate_scan.headgate_scanned_table"
_SCANS: dict[tuple[str, tuple[tuple[str, str], ...]], Scan] = {}

METRICS = ("row_count", "null_fraction", "distinct_fraction", "mean", "min", "max", "freshness_lag")


def collect_metrics(
    session: EngineSession,
    table: str,
    *,
    dialect: str = "duckdb",
    time_columns: list[str] | None = None,
    now: datetime | None = None,
    columns: Sequence[tuple[str, str]] | None = None,
) -> dict[str, float]:
    """The run's metrics of ``table`` from one aggregate query.

    ``columns`` (name, type), when the caller already read them from the catalog, spare
    the query that describes the table.

    Keys are ``row_count`` and ``<metric>:<column>``: ``null_fraction`` and
    ``distinct_fraction`` (approximate distinct values over non-null values) for every
    column, ``mean`` for numbers and booleans (the share of true), ``min`` and ``max`` for
    numbers and times (times as seconds since 1970), and ``freshness_lag`` (seconds from
    ``now`` back to the newest value) for ``time_columns``, by default every date or
    timestamp column. A metric without a value (the mean of an empty column) is left out.
    """
    flavor = dialect_named(dialect)
    clock = utc(now)
    infos = (
        [ColumnInfo(name, kind, column_kind(kind)) for name, kind in columns]
        if columns
        else describe_columns(session, table, flavor)
    )
    by_name = {info.name: info for info in infos}
    wanted = (
        [i.name for i in infos if i.kind == "temporal"] if time_columns is None else time_columns
    )
    for name in wanted:
        if name not in by_name or by_name[name].kind != "temporal":
            raise HeadgateError(f"{table}.{name} is not a date or timestamp column of {table}")

    def aggregates(info: ColumnInfo) -> dict[str, exp.Expr]:
        x = info.expression()
        found: dict[str, exp.Expr] = {"nonnull": exp.Count(this=x.copy())}
        if info.kind == "other":
            return found
        found["distinct"] = flavor.distinct(info.as_text() if info.kind == "string" else x.copy())
        if info.numeric or info.kind == "boolean":
            as_number = "INT" if info.kind == "boolean" else "DOUBLE"
            found["mean"] = exp.Avg(this=exp.Cast(this=x.copy(), to=exp.DataType.build(as_number)))
        if info.numeric:
            found["min"], found["max"] = exp.Min(this=x.copy()), exp.Max(this=x.copy())
        elif info.kind == "temporal":  # as seconds since 1970, computed by the engine
            found["min"] = exp.TimeToUnix(this=exp.Min(this=x.copy()))
            found["max"] = exp.TimeToUnix(this=exp.Max(this=x.copy()))
        return found

    # the same columns make the same query: written once per process, not per table
    shape = (dialect, tuple((i.name, i.type) for i in infos))
    cached = _SCANS.get(shape)
    if cached is None:
        cached = _SCANS[shape] = build_scan(_PLACEHOLDER, infos, flavor, aggregates)
    here = table_expression(table).sql(flavor.name)
    scan = Scan(
        cached.sql.replace(table_expression(_PLACEHOLDER).sql(flavor.name), here), cached.keys
    )
    rows, stats = scan.read(session.execute(scan.sql)[0], len(infos))
    metrics: dict[str, float] = {"row_count": float(rows)}
    for info, found in zip(infos, stats, strict=True):
        nonnull = int(found["nonnull"])
        if rows:
            metrics[f"null_fraction:{info.name}"] = (rows - nonnull) / rows
        if nonnull and found.get("distinct") is not None:
            metrics[f"distinct_fraction:{info.name}"] = (
                min(int(found["distinct"]), nonnull) / nonnull
            )
        for name in ("mean", "min", "max"):
            value = epoch_seconds(found.get(name))
            if value is not None:
                metrics[f"{name}:{info.name}"] = value
        newest = epoch_seconds(found.get("max"))
        if info.name in wanted and newest is not None:
            metrics[f"freshness_lag:{info.name}"] = clock.timestamp() - newest
    return metrics
