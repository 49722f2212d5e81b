"""Running a table's checks: one fused scan, a query per check that needs its own, samples.

The order of work is chosen to read the table as few times as possible: the fused scan
answers every aggregate check at once; relationships,
contracts and custom SQL run their own query; failing rows are fetched (at most 20)
only for checks that failed. One broken check must not hide the others: when the fused
scan fails, its checks are split in halves and re-run until each broken check stands
alone; those get status ``error`` with the engine's message and their own SQL, and the
rest report normally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp

from headgate.checks.compiler import FusedQuery, ScanSlot, check_sql, fused_scan
from headgate.checks.evaluation import (
    CheckEvaluationError,
    QueryCheckType,
    RunContext,
    ScanCheckType,
    Verdict,
)
from headgate.checks.results import CheckResult
from headgate.checks.spec import Check, check_types
from headgate.checks.sqlgen import SAMPLE_LIMIT, SnippetError, SqlContext
from headgate.engines.base import EngineSession
from headgate.errors import EngineError

_DECIDING_ERRORS = (EngineError, CheckEvaluationError, SnippetError)


def run_checks(
    session: EngineSession,
    table: str,
    checks: list[Check],
    *,
    dialect: str,
    previous: dict[str, float] | None = None,
    resolve: Callable[[str], str] | None = None,
    now: datetime | None = None,
) -> list[CheckResult]:
    """Evaluate ``checks`` on ``table`` (the physical table holding the checked model).

    ``resolve`` maps another model's name (a relationship's ``to``, a table a custom check
    reads) to the table to read; the checked model itself always reads ``table``.
    ``previous`` holds the previous audited row count by model name (or by check name)
    for ``row_count: {max_change: ...}``. ``now`` is the clock freshness is measured
    against (default: the current UTC time). Checks no runner evaluates (``monitor``)
    are left out of the results; every other check gets exactly one result, in order.
    """
    run = RunContext(
        session=session,
        sql=SqlContext(table, dialect),
        resolve=resolve or _same_name,
        previous=previous or {},
        now=now or datetime.now(UTC),
    )
    results: dict[int, CheckResult] = {}
    scanned: list[tuple[int, Check]] = []
    for position, check in enumerate(checks):
        kind = check_types().get(check.type)
        if kind is None:
            results[position] = _error(check, f"unknown check type '{check.type}'", None, 0.0)
        elif isinstance(kind, ScanCheckType):
            scanned.append((position, check))
    if scanned:
        for index, result in _run_scan(run, [check for _, check in scanned]).items():
            results[scanned[index][0]] = result
    for position, check in enumerate(checks):
        kind = check_types().get(check.type)
        if isinstance(kind, QueryCheckType):
            results[position] = _run_own(run, check, kind)
    return [results[position] for position in sorted(results)]


def _same_name(name: str) -> str:
    return name


@dataclass
class _Scanned:
    """What the fused scan (and, when it failed, the isolation of the culprits) found."""

    values: dict[int, dict[str, Any]]
    errors: dict[int, str]


def _run_scan(run: RunContext, checks: list[Check]) -> dict[int, CheckResult]:
    fused = fused_scan(run.sql.table, checks, run.sql.dialect)
    results: dict[int, CheckResult] = {}
    for position, check, message in fused.rejected:
        results[position] = _error(check, message, None, 0.0)
    if fused.sql is None:
        return results
    started = time.perf_counter()
    scanned = _scan_values(run, fused)
    share = (time.perf_counter() - started) / len(fused.slots)
    for slot in fused.slots:
        own_sql = check_sql(run.sql.table, slot.check, run.sql.dialect)
        if slot.position in scanned.errors:
            results[slot.position] = _error(
                slot.check, scanned.errors[slot.position], own_sql, share
            )
            continue
        kind = check_types()[slot.check.type]
        assert isinstance(kind, ScanCheckType)
        began = time.perf_counter()
        run.last_sql = None
        try:
            verdict = kind.judge(slot.check, scanned.values[slot.position], run)
        except _DECIDING_ERRORS as exc:
            spent = share + time.perf_counter() - began
            results[slot.position] = _error(slot.check, _text(exc), run.last_sql or own_sql, spent)
            continue
        results[slot.position] = _result(run, slot.check, verdict, own_sql, share, began)
    return results


def _scan_values(run: RunContext, fused: FusedQuery) -> _Scanned:
    assert fused.sql is not None
    try:
        row = run.records(fused.sql)[0]
    except EngineError as exc:
        return _isolate(run, fused, exc)
    values = dict(zip([s.position for s in fused.slots], fused.values(row), strict=True))
    return _Scanned(values, {})


def _isolate(run: RunContext, fused: FusedQuery, failure: EngineError) -> _Scanned:
    """Find the checks that break the fused scan by splitting it in halves, recursively.

    A table that cannot be read at all fails every check the same way: one probe finds
    that before any splitting. Otherwise k broken checks among n cost about 2·k·log2(n)
    smaller scans; every check that is not broken still gets its values.
    """
    found = _Scanned({}, {})
    probe = run.sql.render(exp.select(exp.Count(this=exp.Star())).from_(run.sql.source))
    try:
        run.execute(probe)
    except EngineError as exc:
        found.errors = {slot.position: exc.message for slot in fused.slots}
        return found

    def split(slots: Sequence[ScanSlot], message: str) -> None:
        if len(slots) == 1:
            found.errors[slots[0].position] = message
            return
        middle = len(slots) // 2
        for half in (slots[:middle], slots[middle:]):
            part = fused_scan(run.sql.table, [s.check for s in half], run.sql.dialect)
            assert part.sql is not None
            try:
                row = run.records(part.sql)[0]
            except EngineError as exc:
                split(half, exc.message)
                continue
            for slot, values in zip(part.slots, part.values(row), strict=True):
                found.values[half[slot.position].position] = values

    split(fused.slots, failure.message)
    return found


def _run_own(run: RunContext, check: Check, kind: QueryCheckType) -> CheckResult:
    began = time.perf_counter()
    run.last_sql = None
    try:
        verdict = kind.evaluate(check, run)
    except _DECIDING_ERRORS as exc:
        return _error(check, _text(exc), run.last_sql, time.perf_counter() - began)
    return _result(run, check, verdict, run.last_sql, 0.0, began)


def _result(
    run: RunContext,
    check: Check,
    verdict: Verdict,
    own_sql: str | None,
    share: float,
    began: float,
) -> CheckResult:
    """The result of a decided check, with failing rows fetched if it failed."""
    message = verdict.message
    sample: list[dict[str, Any]] = []
    if not verdict.passed:
        if verdict.sample is not None:
            sample = verdict.sample[:SAMPLE_LIMIT]
        elif verdict.sample_sql is not None:
            try:
                sample = run.records(verdict.sample_sql)[:SAMPLE_LIMIT]
            except EngineError as exc:
                message += f" (failing rows could not be fetched: {exc.message})"
    status = "pass" if verdict.passed else ("warn" if check.severity == "warn" else "fail")
    return CheckResult(
        check=check,
        status=status,
        message=message,
        threshold=verdict.threshold,
        failing_rows=verdict.failing_rows,
        total_rows=verdict.total_rows,
        sample=sample,
        sql=verdict.sql or own_sql,
        seconds=share + time.perf_counter() - began,
    )


def _error(check: Check, message: str, sql: str | None, seconds: float) -> CheckResult:
    first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    return CheckResult(
        check=check,
        status="error",
        message=f"could not run the check: {first_line}",
        threshold="",
        sql=sql,
        seconds=seconds,
    )


def _text(exc: Exception) -> str:
    return exc.message if isinstance(exc, EngineError | CheckEvaluationError) else str(exc)
