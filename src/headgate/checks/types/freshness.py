"""``freshness``: the newest timestamp of a column is no older than a duration.

The newest value is one more aggregate (``MAX``) in the fused scan; its age is measured
in Python against the run's clock. A timestamp without a time zone is taken as UTC (the
convention for stored timestamps); a date counts as fresh until the end of its day, so
yesterday's date is less than a day old until midnight.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import field_validator
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
from headgate.checks.sqlgen import SqlContext, when

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


class FreshnessParams(CheckParams):
    max_age: timedelta

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
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
    example = "freshness: {max_age: 2 days}"

    def aggregates(self, check: Check, sql: SqlContext) -> dict[str, exp.Expr]:
        column = sql.column(column_name(check))
        return {"newest": exp.Max(this=when(sql.where(check), column))}

    def judge(self, check: Check, values: Mapping[str, Any], run: RunContext) -> Verdict:
        params = check.params
        assert isinstance(params, FreshnessParams)
        allowed = text.duration(params.max_age)
        threshold = f"newest {check.column} at most {allowed} old"
        newest = values["newest"]
        if newest is None:
            return Verdict(False, f"no {check.column} values: no rows to be fresh", threshold)
        age = run.now - newest_moment(newest)
        shown = newest.isoformat(sep=" ") if isinstance(newest, datetime) else newest.isoformat()
        if age < timedelta(0):
            old = f"{text.duration(-age)} in the future"
        else:
            old = f"{text.duration(age)} old"
        return Verdict(
            passed=age <= params.max_age,
            message=f"newest {check.column} is {shown}, {old}; allowed {allowed}",
            threshold=threshold,
        )
