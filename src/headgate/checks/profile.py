"""Profile a table: what each column holds, measured in one scan.

``profile_table`` reads the engine's column list (metadata), then runs ONE aggregate
query that reads every column once: counts, distinct counts, min/max, mean, lengths and
date sanity counts. Quantiles and the standard deviation come from a uniform 10,000-row
sample joined into that same statement on DuckDB (exact below that size), because exact
quantiles would sort the whole table and DuckDB's quantile approximations are either slow
or biased. A last ``UNION ALL`` query of grouped values is kept small on purpose: it
groups only columns with few distinct values, text columns (whole below
``exact_distinct_below`` rows, a sample above) and key-like columns (exactly below
``exact_keys_below`` rows, so "150 duplicated ids" is a count, not an estimate).
Booleans need none of it: their two counts come from the scan. Text patterns and hygiene
are judged in Python on the grouped values (:mod:`headgate.checks.patterns`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlglot
from sqlglot import exp

from headgate.checks.metrics import (
    ColumnInfo,
    SqlDialect,
    build_scan,
    count_if,
    derived,
    describe_columns,
    dialect_named,
    json_value,
    moment_text,
    typed_literal,
    utc,
)
from headgate.checks.patterns import Finding, PatternMatch, WeightedValue, analyze_text
from headgate.engines.base import EngineSession, table_expression

QUANTILES: dict[str, float] = {"p01": 0.01, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p99": 0.99}
ALL_VALUES_BELOW = 1_000  # columns with fewer distinct values have every value counted
VALUE_COUNTS_KEPT = 50  # complete value counts kept in the profile up to this many values
TEXT_SAMPLE_ROWS = 10_000  # rows read for text patterns on tables above exact_distinct_below
KEY_LIKE = 0.9  # distinct share from which an integer or text column is counted as a key
FAR_FUTURE = timedelta(days=365)
ANCIENT = datetime(1900, 1, 1)
EPOCH = datetime(1970, 1, 1)


@dataclass
class ColumnProfile:
    """One column as the profile saw it. Values are JSON-safe (dates as ISO text, UTC)."""

    name: str
    type: str
    kind: str  # integer, decimal, boolean, temporal, string or other
    nonnull: int
    nulls: int
    null_fraction: float | None
    distinct: int | None
    distinct_exact: bool
    distinct_fraction: float | None  # distinct values over non-null values
    min: Any = None
    max: Any = None
    mean: float | None = None  # booleans: the share of true
    stddev: float | None = None
    quantiles: dict[str, Any] = field(default_factory=dict)
    min_length: int | None = None
    max_length: int | None = None
    top_values: list[tuple[Any, int]] = field(default_factory=list)
    value_counts: list[tuple[Any, int]] | None = None  # every value, when there are few
    duplicate_rows: int | None = None  # rows whose value occurs more than once (exact)
    negatives: int | None = None
    zeros: int | None = None
    future: int | None = None  # dates after the profile's clock
    latest_past: str | None = None  # newest date not in the future
    earliest_plausible: str | None = None  # oldest date from 1900 on that is not 1970-01-01
    ancient: int | None = None  # dates before 1900
    epoch_zero: int | None = None  # dates at 1970-01-01 00:00:00, a zero timestamp
    pattern: PatternMatch | None = None
    hygiene: list[Finding] = field(default_factory=list)
    sampled: bool = False  # pattern and hygiene counts estimated from a sample

    def finding(self, kind: str) -> Finding | None:
        return next((f for f in self.hygiene if f.kind == kind), None)


@dataclass
class Profile:
    """A table's profile: its row count and every column, when and how it was taken."""

    table: str
    dialect: str
    rows: int
    profiled_at: str  # ISO 8601 UTC: the clock future and recent dates are judged by
    columns: list[ColumnProfile]
    seconds: float = 0.0

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.table} has no column {name!r}")

    @property
    def taken_at(self) -> datetime:
        return datetime.fromisoformat(self.profiled_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        columns = []
        for raw in data["columns"]:
            values = dict(raw)
            values["top_values"] = [tuple(p) for p in values.get("top_values", [])]
            if values.get("value_counts") is not None:
                values["value_counts"] = [tuple(p) for p in values["value_counts"]]
            if values.get("pattern") is not None:
                values["pattern"] = PatternMatch(**values["pattern"])
            values["hygiene"] = [Finding(**f) for f in values.get("hygiene", [])]
            columns.append(ColumnProfile(**values))
        return cls(**{**data, "columns": columns})


def profile_table(
    session: EngineSession,
    table: str,
    *,
    dialect: str = "duckdb",
    top_values: int = 10,
    exact_distinct_below: int = 100_000,
    exact_keys_below: int = 1_000_000,
    now: datetime | None = None,
) -> Profile:
    """Profile ``table``: one aggregate scan, then one small query of grouped values.

    Distinct counts are approximate on engines that approximate them, except below
    ``exact_distinct_below`` rows, for columns with few values, and for key-like columns
    below ``exact_keys_below`` rows. ``now`` is the clock future, recent and far-off dates
    are judged by (the current time by default).
    """
    flavor = dialect_named(dialect)
    clock = utc(now)
    started = time.perf_counter()
    infos = describe_columns(session, table, flavor)
    scan = build_scan(
        table,
        infos,
        flavor,
        lambda info: _aggregates(info, flavor, clock),
        sampled=_sampled(flavor),
    )
    rows, stats = scan.read(session.execute(scan.sql)[0], len(infos))
    columns = [_column(info, found, rows, clock) for info, found in zip(infos, stats, strict=True)]
    grouped = _value_query(
        table, infos, columns, flavor, rows, exact_distinct_below, exact_keys_below, top_values
    )
    if grouped is not None:
        fetched: list[dict[str, list[tuple[Any, ...]]]] = [{} for _ in columns]
        for index, branch, *rest in session.execute(grouped):
            fetched[int(index)].setdefault(str(branch), []).append(tuple(rest))
        for column, values in zip(columns, fetched, strict=True):
            _apply_values(column, values, top_values)
    return Profile(
        table=table,
        dialect=dialect,
        rows=rows,
        profiled_at=clock.replace(tzinfo=None).isoformat(timespec="seconds"),
        columns=columns,
        seconds=round(time.perf_counter() - started, 3),
    )


def _aggregates(info: ColumnInfo, flavor: SqlDialect, now: datetime) -> dict[str, exp.Expr]:
    """Everything the scan computes for one column, by statistic name."""
    x = info.expression()
    found: dict[str, exp.Expr] = {"nonnull": exp.Count(this=x.copy())}
    if info.kind == "other":
        return found
    if info.kind == "boolean":  # min, max and the distinct count follow from the trues
        return found | {"trues": count_if(x.copy())}
    subject = info.as_text() if info.kind == "string" else x
    found |= {
        "min": exp.Min(this=subject.copy()),
        "max": exp.Max(this=subject.copy()),
        "distinct": flavor.distinct(subject.copy()),
    }
    zero = exp.Literal.number(0)
    if info.numeric:  # integer and decimal sums are exact and cheaper than casting each value
        found |= {
            "sum": exp.Sum(this=x.copy()),
            "negatives": count_if(x.copy() < zero),
            "zeros": count_if(exp.EQ(this=x.copy(), expression=zero)),
        }
    elif info.kind == "temporal":  # moments as seconds since 1970 (see moment_text)
        at_now, epoch = typed_literal(now, info), typed_literal(EPOCH, info)
        ancient = typed_literal(ANCIENT, info)
        plausible = exp.and_(x.copy() >= ancient.copy(), exp.NEQ(this=x.copy(), expression=epoch))
        latest = exp.Max(this=exp.case().when(x.copy() <= at_now, x.copy()))
        earliest = exp.Min(this=exp.case().when(plausible, x.copy()))
        found |= {
            "min": exp.TimeToUnix(this=exp.Min(this=x.copy())),
            "max": exp.TimeToUnix(this=exp.Max(this=x.copy())),
            "future": count_if(x.copy() > at_now.copy()),
            "far_future": count_if(x.copy() > typed_literal(now + FAR_FUTURE, info)),
            "ancient": count_if(x.copy() < ancient),
            "epoch_zero": count_if(exp.EQ(this=x.copy(), expression=epoch.copy())),
            "latest_past": exp.TimeToUnix(this=latest),
            "earliest_plausible": exp.TimeToUnix(this=earliest),
        }
    elif info.kind == "string":
        found["min_length"] = exp.Min(this=exp.Length(this=subject.copy()))
        found["max_length"] = exp.Max(this=exp.Length(this=subject.copy()))
    return found


def _sampled(flavor: SqlDialect) -> Callable[[ColumnInfo], dict[str, exp.Expr]]:
    """Quantiles and spread, read from the dialect's quantile source (a sample on DuckDB)."""

    def sampled(info: ColumnInfo) -> dict[str, exp.Expr]:
        x = info.expression()
        if info.numeric:
            value: exp.Expr = exp.Cast(this=x, to=exp.DataType.build("DOUBLE"))
            spread = {"stddev": exp.StddevSamp(this=value.copy())}
        elif info.kind == "temporal":
            value, spread = exp.TimeToUnix(this=x), {}
        else:
            return {}
        return {"quantiles": flavor.quantiles(value, list(QUANTILES.values())), **spread}

    return sampled


def _column(info: ColumnInfo, stats: dict[str, Any], rows: int, now: datetime) -> ColumnProfile:
    nonnull = int(stats["nonnull"])
    distinct = None if stats.get("distinct") is None else min(int(stats["distinct"]), nonnull)
    column = ColumnProfile(
        name=info.name,
        type=info.type,
        kind=info.kind,
        nonnull=nonnull,
        nulls=rows - nonnull,
        null_fraction=(rows - nonnull) / rows if rows else None,
        distinct=distinct,
        distinct_exact=False,
        distinct_fraction=distinct / nonnull if distinct is not None and nonnull else None,
        min=json_value(stats.get("min")),
        max=json_value(stats.get("max")),
    )
    quantiles = [None if q is None else float(q) for q in stats.get("quantiles") or []]
    if info.numeric and nonnull:
        column.mean = float(stats["sum"]) / nonnull
        column.stddev = None if stats.get("stddev") is None else float(stats["stddev"])
        column.quantiles = dict(zip(QUANTILES, quantiles, strict=False))
        column.negatives, column.zeros = int(stats["negatives"] or 0), int(stats["zeros"] or 0)
    elif info.kind == "boolean" and nonnull:  # everything follows from the count of trues
        trues = int(stats["trues"] or 0)
        column.mean, column.min, column.max = trues / nonnull, trues == nonnull, trues > 0
        counts = sorted(((True, trues), (False, nonnull - trues)), key=lambda p: -p[1])
        column.value_counts = column.top_values = [(v, n) for v, n in counts if n]
        column.distinct, column.distinct_exact = len(column.value_counts), True
        column.distinct_fraction = column.distinct / nonnull
        column.duplicate_rows = sum(n for _, n in counts if n > 1)
    elif info.kind == "temporal":
        day = info.is_date
        column.min = moment_text(stats["min"], date_only=day)
        column.max = moment_text(stats["max"], date_only=day)
        moments = [None if q is None else moment_text(round(q), date_only=day) for q in quantiles]
        column.quantiles = dict(zip(QUANTILES, moments, strict=False))
        column.future, column.ancient = int(stats["future"] or 0), int(stats["ancient"] or 0)
        column.epoch_zero = int(stats["epoch_zero"] or 0)
        column.latest_past = moment_text(stats["latest_past"], date_only=day)
        column.earliest_plausible = moment_text(stats["earliest_plausible"], date_only=day)
        column.hygiene = _date_findings(column, int(stats["far_future"] or 0), now)
    elif info.kind == "string":
        column.min_length, column.max_length = stats["min_length"], stats["max_length"]
    return column


def _date_findings(column: ColumnProfile, far_future: int, now: datetime) -> list[Finding]:
    findings = []
    if far_future:
        after = (now + FAR_FUTURE).date().isoformat()
        message = f"{far_future:,} dates are after {after}, over a year ahead"
        findings.append(Finding("far_future_date", far_future, [str(column.max)], message))
    if column.ancient:
        message = f"{column.ancient:,} dates are before 1900"
        findings.append(Finding("far_past_date", column.ancient, [str(column.min)], message))
    if column.epoch_zero:
        zero = moment_text(0, date_only=column.type.upper() == "DATE") or ""
        message = f"{column.epoch_zero:,} dates are {zero}, a zero timestamp"
        findings.append(Finding("epoch_date", column.epoch_zero, [zero], message))
    return findings


def _value_query(
    table: str,
    infos: list[ColumnInfo],
    columns: list[ColumnProfile],
    flavor: SqlDialect,
    rows: int,
    exact_distinct_below: int,
    exact_keys_below: int,
    top_values: int,
) -> str | None:
    """One UNION ALL of grouped value counts for the columns that need them, or None.

    Branch ``a``: every value of a column (few values, or text in a small table); ``s``:
    the values of a sample of a large table's text column; ``t``: a column's most frequent
    values with its exact distinct count and the rows of repeated values (windows over the
    groups, taken before the LIMIT).
    """
    source = table_expression(table)
    branches: list[exp.Select] = []
    for i, (info, column) in enumerate(zip(infos, columns, strict=True)):
        if info.kind in ("other", "boolean") or not column.nonnull or column.distinct is None:
            continue
        small = rows < exact_distinct_below
        key_like = (
            info.kind in ("integer", "string") and column.distinct >= KEY_LIKE * column.nonnull
        )
        if column.distinct < ALL_VALUES_BELOW or (small and info.kind == "string"):
            branches.append(_grouped(i, "a", info, source.copy()))
            continue
        if info.kind == "string":
            percent = f"{min(100.0, 100.0 * TEXT_SAMPLE_ROWS / rows):.4f}"
            text = flavor.text_sample.format(
                table=source.sql(flavor.name), rows=TEXT_SAMPLE_ROWS, percent=percent
            )
            sample = derived(sqlglot.parse_one(text, read=flavor.name), "s")
            branches.append(_grouped(i, "s", info, sample))
        if small or (key_like and rows < exact_keys_below):
            branches.append(_most_frequent(i, info, source.copy(), top_values))
    if not branches:
        return None
    union: exp.Query = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False)
    return union.sql(flavor.name)


def _present(info: ColumnInfo) -> exp.Expr:
    return exp.not_(exp.Is(this=info.expression(), expression=exp.null()))


def _grouped(index: int, branch: str, info: ColumnInfo, origin: exp.Expr) -> exp.Select:
    """Every value of the column in ``origin`` with its row count.

    NULL gets a group too, dropped in Python: grouping it costs less than filtering it out.
    """
    no_number = exp.Cast(this=exp.null(), to=exp.DataType.build("BIGINT"))
    return (
        exp.select(
            exp.Literal.number(index),
            exp.Literal.string(branch),
            exp.Cast(this=info.expression(), to=exp.DataType.build("TEXT")),
            exp.Count(this=exp.Star()),
            no_number,
            no_number.copy(),
        )
        .from_(origin)
        .group_by(info.expression())
    )


def _most_frequent(index: int, info: ColumnInfo, origin: exp.Expr, top_values: int) -> exp.Select:
    """The most frequent values, with the number of groups and the rows of repeated values."""
    count = exp.Count(this=exp.Star())
    repeated = exp.case().when(count.copy() > exp.Literal.number(1), count.copy()).else_(0)
    inner = (
        exp.select(
            exp.Cast(this=info.expression(), to=exp.DataType.build("TEXT")).as_("v"),
            count.copy().as_("n"),
            exp.Window(this=count.copy()).as_("g"),
            exp.Window(this=exp.Sum(this=repeated)).as_("d"),
        )
        .from_(origin)
        .where(_present(info))
        .group_by(info.expression())
        .order_by(exp.column("n").desc(), exp.column("v"))
        .limit(top_values)
    )
    outer = [exp.Literal.number(index), exp.Literal.string("t"), "v", "n", "g", "d"]
    return exp.select(*outer).from_(derived(inner, f"t{index}"))


def _typed(value: str, kind: str) -> Any:
    """A grouped value (fetched as text) back in its column's JSON type."""
    if kind == "integer":
        return int(value)
    if kind == "decimal":
        return float(value)
    return value


def _apply_values(
    column: ColumnProfile, fetched: dict[str, list[tuple[Any, ...]]], top_values: int
) -> None:
    """What the grouped values tell: exact distinct counts, top values, text findings."""
    everything, sample, top = (
        None if rows is None else [r for r in rows if r[0] is not None]
        for rows in (fetched.get("a"), fetched.get("s"), fetched.get("t"))
    )
    if everything is not None:
        counts = sorted(((str(r[0]), int(r[1])) for r in everything), key=lambda p: (-p[1], p[0]))
        column.distinct, column.distinct_exact = len(counts), True
        column.duplicate_rows = sum(n for _, n in counts if n > 1)
        typed = [(_typed(v, column.kind), n) for v, n in counts]
        column.top_values = typed[:top_values]
        column.value_counts = typed if len(typed) <= VALUE_COUNTS_KEPT else None
    if top:
        column.distinct, column.distinct_exact = int(top[0][2]), True
        column.duplicate_rows = int(top[0][3] or 0)
        column.top_values = [(_typed(str(r[0]), column.kind), int(r[1])) for r in top]
    if column.distinct is not None and column.nonnull:
        column.distinct_fraction = column.distinct / column.nonnull
    values = everything if everything is not None else sample
    if column.kind != "string" or not values:
        return
    weighted = [WeightedValue(str(r[0]), int(r[1])) for r in values]
    scale = 1.0 if everything is not None else column.nonnull / sum(v.count for v in weighted)
    column.pattern, findings = analyze_text(weighted, scale=scale)
    column.sampled = everything is None
    column.hygiene.extend(findings)
