"""``row_count``: how many rows, between bounds or within a change from the previous run.

The count is one more aggregate in the fused scan. ``max_change`` compares it with the
row count of the model's previous audited run, which the caller passes in (the metadata
store keeps it: :meth:`headgate.state.store.StateStore.previous_row_count`).
``direction`` says which change matters: ``both`` (the default: a collapse and a doubled
load are both suspicious), ``drop`` (an append-only table that grows fast while young) or
``growth``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from headgate.checks import text
from headgate.checks.evaluation import RunContext, ScanCheckType, Verdict
from headgate.checks.spec import Check, CheckParams, parse_percentage, register
from headgate.checks.sqlgen import SqlContext, count_if


class RowCountParams(CheckParams):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    max_change: float | None = Field(
        default=None, description="largest change against the previous run, e.g. '20%'"
    )
    direction: Literal["both", "drop", "growth"] = Field(
        default="both", description="which change max_change judges: both, drop or growth"
    )

    @field_validator("max_change", mode="before")
    @classmethod
    def _percentage(cls, value: object) -> object:
        if value is None:
            return None
        return parse_percentage(value, "max_change")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.min is None and self.max is None and self.max_change is None:
            raise ValueError("give min, max or max_change")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.direction != "both" and self.max_change is None:
            raise ValueError("direction applies to max_change: give max_change too")
        return self


@register
class RowCount(ScanCheckType):
    name = "row_count"
    params_model = RowCountParams
    scopes = frozenset({"model"})
    row_level = False
    example = "row_count: {min: 1, max: 1000000}  or  row_count: {max_change: 20%, direction: drop}"

    def aggregates(self, check: Check, sql: SqlContext) -> dict[str, exp.Expr]:
        return {"rows": count_if(sql.where(check))}

    def judge(self, check: Check, values: Mapping[str, Any], run: RunContext) -> Verdict:
        params = check.params
        assert isinstance(params, RowCountParams)
        rows = int(values["rows"])
        problems: list[str] = []
        notes: list[str] = []
        limits: list[str] = []
        hint = ""
        if params.min is not None and params.max is not None:
            limits.append(f"between {text.number(params.min)} and {text.number(params.max)} rows")
        elif params.min is not None:
            limits.append(f"at least {text.rows(params.min)}")
        elif params.max is not None:
            limits.append(f"at most {text.rows(params.max)}")
        if params.min is not None and rows < params.min:
            problems.append(f"fewer than the minimum {text.number(params.min)}")
        if params.max is not None and rows > params.max:
            problems.append(f"more than the maximum {text.number(params.max)}")
        if params.max_change is not None:
            allowed = f"{params.max_change * 100:g}%"
            limits.append(f"{_judged(params.direction)} within {allowed} of the previous run")
            previous = run.previous.get(check.name, run.previous.get(check.model))
            if previous is None:
                notes.append("no previous run to compare with")
            else:
                change = _change(rows, previous)
                grew = rows >= previous
                moved = (
                    f"{text.percent(change)} {'more' if grew else 'fewer'} than "
                    f"the previous run's {text.number(previous)}"
                    if previous
                    else f"the previous run had {text.rows(0)}"
                )
                judged = params.direction == "both" or (params.direction == "growth") == grew
                if change > params.max_change and judged and rows != previous:
                    problems.append(f"{moved}, above the allowed {allowed}")
                    hint = _adjust_hint(params.direction, grew, allowed)
                elif change > params.max_change:
                    notes.append(f"{moved} ({'growth' if grew else 'a drop'} is not judged)")
                else:
                    notes.append(moved)
        details = problems or notes
        message = text.rows(rows) + (": " + "; ".join(details) if details else "")
        if not problems and limits:
            message += f" (expected {'; '.join(limits)})"
        if hint:
            message += f". {hint}"
        return Verdict(
            passed=not problems,
            message=message,
            threshold="; ".join(limits),
            total_rows=rows,
        )


def _judged(direction: str) -> str:
    return {"both": "change", "drop": "drop", "growth": "growth"}[direction]


def _adjust_hint(direction: str, grew: bool, allowed: str) -> str:
    """How to adjust a max_change check that fired on a change the user may expect."""
    if grew and direction == "both":
        return (
            "if the table is expected to grow (append-only), add direction: drop to judge only "
            f"drops, or raise max_change above {allowed}"
        )
    if not grew and direction == "both":
        return (
            "if drops are expected (a window of recent rows), add direction: growth, "
            f"or raise max_change above {allowed}"
        )
    return f"if this change is expected, raise max_change above {allowed}"


def _change(rows: int, previous: float) -> float:
    """Relative change against the previous count; from 0 to any rows is an infinite change."""
    if previous == 0:
        return 0.0 if rows == 0 else float("inf")
    return abs(rows - previous) / previous
