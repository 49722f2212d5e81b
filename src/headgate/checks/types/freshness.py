"""``freshness``: the newest timestamp of a column is no older than a duration.

The newest value is one more aggregate (``MAX``) in the fused scan; its age is measured
in Python against the run's clock. A timestamp without a time zone is taken as UTC (the
convention for stored timestamps); a date counts as fresh until the end of its day, so
yesterday's date is less than a day old until midnight.

A value in the future must not pass for fresh data: one row dated next year would make
the column look fresh for a year while nothing new arrives. So a newest value beyond the
run's clock plus ``max_future`` (default one day: clock skew and time zones) fails the
check, naming the future rows; only then a second query counts them and measures the
staleness of the values that are not in the future, which the message reports too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import Field, field_validator
from sqlglot import exp

from headgate.checks import text
from headgate.checks.evaluation import (
    CheckEvaluationError,
    RunContext,
    ScanCheckType,
    Verdict,
    column_name,
)
from headgate.checks.spec import Check, CheckParams, register
from headgate.checks.sqlgen import SqlContext, both, count_if, when

_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_SEPARATOR = re.compile(r"[\s,]*(?:and)?[\s,]*")


def parse_duration(value: object) -> timedelta:
    """``'2 days'``, ``'36h'``, ``'90 minutes'``, ``'1 week'``, ``'1d 12h'``."""
    hint = "write a duration with a unit, e.g. '2 days', '36h', '90 minutes' or '1 week'"
    if not isinstance(value, str):
        raise ValueError(f"{hint} (got {value!r})")
    rest = value.strip().lower()
    seconds = 0.0
    found = False
    while rest:
        match = _PART.match(rest)
        if not match or match.group(2) not in _UNITS:
            raise ValueError(f"{hint} (got {value!r})")
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        found = True
        rest = rest[match.end() :]
        separator = _SEPARATOR.match(rest)
        rest = rest[separator.end() :] if separator else rest
    if not found or seconds <= 0:
        raise ValueError(f"{hint} (got {value!r})")
    return timedelta(seconds=seconds)


DEFAULT_MAX_FUTURE = timedelta(days=1)


class FreshnessParams(CheckParams):
    max_age: timedelta
    max_future: timedelta = Field(
        default=DEFAULT_MAX_FUTURE,
        description="how far ahead of now the newest value may lie (default 1 day)",
    )

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    @field_validator("max_future", mode="before")
    @classmethod
    def _allowance(cls, value: object) -> timedelta:
        if value == 0 or (isinstance(value, str) and value.strip() in ("0", "none")):
            return timedelta(0)
        return parse_duration(value)


def newest_moment(value: object) -> datetime:
    """The instant a column's newest value stands for (see the module's docstring)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=1)
    raise CheckEvaluationError(
        f"freshness needs a date or timestamp column; its newest value is {value!r}"
    )


@register
class Freshness(ScanCheckType):
    name = "freshness"
    params_model = FreshnessParams
    scopes = frozenset({"column"})
    row_level = False
    example = "freshness: {max_age: 2 days}  or  freshness: {max_age: 2 days, max_future: 1 hour}"

    def aggregates(self, check: Check, sql: SqlContext) -> dict[str, exp.Expr]:
        column = sql.column(column_name(check))
        return {"newest": exp.Max(this=when(sql.where(check), column))}

    def judge(self, check: Check, values: Mapping[str, Any], run: RunContext) -> Verdict:
        params = check.params
        assert isinstance(params, FreshnessParams)
        allowed = text.duration(params.max_age)
        threshold = f"newest {check.column} at most {allowed} old"
        if params.max_future:
            threshold += f", none more than {text.duration(params.max_future)} ahead"
        newest = values["newest"]
        if newest is None:
            return Verdict(False, f"no {check.column} values: no rows to be fresh", threshold)
        limit = run.now + params.max_future
        if _start(newest) > limit:
            return self._future(check, params, newest, limit, run, threshold)
        age = run.now - newest_moment(newest)
        if age < timedelta(0) and _start(newest) <= run.now:
            old = "dated today"  # a date is fresh until its day ends
        elif age < timedelta(0):
            ahead = text.duration(params.max_future)
            old = f"{text.duration(-age)} in the future, within the allowed {ahead} ahead"
        else:
            old = f"{text.duration(age)} old"
        return Verdict(
            passed=age <= params.max_age,
            message=f"newest {check.column} is {_shown(newest)}, {old}; allowed {allowed}",
            threshold=threshold,
        )

    def _future(
        self,
        check: Check,
        params: FreshnessParams,
        newest: object,
        limit: datetime,
        run: RunContext,
        threshold: str,
    ) -> Verdict:
        """Future rows fail the check; the values not in the future say how stale it is."""
        sql = run.sql
        column = sql.column(column_name(check))
        future = both(
            sql.where(check), exp.GT(this=column.copy(), expression=_bound(newest, limit))
        )
        present = both(
            sql.where(check), exp.LTE(this=column.copy(), expression=_bound(newest, limit))
        )
        decide = sql.render(
            sql.select(
                count_if(future).as_("future"), exp.Max(this=when(present, column)).as_("newest")
            )
        )
        count, latest = run.execute(decide)[0]
        ahead = text.duration(_start(newest) - run.now)
        message = (
            f"{text.rows(int(count))} with {check.column} in the future, beyond "
            f"{text.duration(params.max_future)} from now (newest {_shown(newest)}, {ahead} ahead): "
            "future-dated rows would make stale data look fresh"
        )
        if latest is None:
            message += f"; no {check.column} value is at or before now"
        else:
            age = max(run.now - newest_moment(latest), timedelta(0))
            verdict = "stale" if age > params.max_age else "fresh"
            message += (
                f"; the newest value not in the future is {_shown(latest)}, "
                f"{text.duration(age)} old ({verdict}; allowed {text.duration(params.max_age)})"
            )
        return Verdict(
            passed=False,
            message=message,
            threshold=threshold,
            failing_rows=int(count),
            sql=decide,
            sample_sql=sql.sample(future),
        )


def _start(value: object) -> datetime:
    """When a value begins: a timestamp itself (naive is UTC), a date at its midnight."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return newest_moment(value)  # raises the error that names the column's type


def _bound(example: object, moment: datetime) -> exp.Expr:
    """``moment`` as a literal of the column's type (told by one of its values)."""
    if isinstance(example, datetime):
        if example.tzinfo is not None:
            stamp = moment.astimezone(UTC).isoformat(sep=" ")
            return exp.cast(exp.Literal.string(stamp), exp.DataType.Type.TIMESTAMPTZ)
        naive = moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        return exp.cast(exp.Literal.string(naive), exp.DataType.Type.TIMESTAMP)
    return exp.cast(
        exp.Literal.string(moment.astimezone(UTC).date().isoformat()), exp.DataType.Type.DATE
    )


def _shown(value: object) -> str:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
