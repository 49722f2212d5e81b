"""Freshness must not be fooled by rows dated in the future."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from headgate.checks.results import CheckResult
from headgate.checks.runner import run_checks
from headgate.engines.duckdb import DuckDBEngine
from tests.checks.support import CountingSession, model_checks

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
FRESHNESS = """
columns:
  ordered_at:
    checks:
      - freshness: {max_age: 2 days}
"""


def _table(session: CountingSession, name: str, moments: list[object]) -> str:
    session.create_table_from_arrow(f"hp.{name}", pa.table({"ordered_at": moments}))
    return f"hp.{name}"


def _freshness(tmp_path: Path, session: CountingSession, table: str, options: str) -> CheckResult:
    checks = model_checks(tmp_path, options)
    (result,) = run_checks(session, table, checks, dialect="duckdb", now=NOW)
    return result


def test_one_row_dated_next_year_fails_and_stale_data_shows_through(
    tmp_path: Path, engine: DuckDBEngine
) -> None:
    session = CountingSession(engine.session())
    naive = NOW.replace(tzinfo=None)
    stale = [naive - timedelta(days=9, hours=i) for i in range(50)]
    table = _table(session, "future_orders", [*stale, naive + timedelta(weeks=52, hours=20)])
    result = _freshness(tmp_path, session, table, FRESHNESS)
    assert result.status == "fail"
    assert result.message.startswith("1 row with ordered_at in the future, beyond 1 day from now")
    assert "52 weeks 20 hours ahead" in result.message
    assert (
        "the newest value not in the future is 2026-04-25 12:00:00, 1 week 2 days old (stale"
        in (result.message)
    )
    assert result.failing_rows == 1
    assert [row["ordered_at"] for row in result.sample] == [naive + timedelta(weeks=52, hours=20)]


def test_future_rows_fail_even_when_the_rest_is_fresh(tmp_path: Path, engine: DuckDBEngine) -> None:
    session = CountingSession(engine.session())
    naive = NOW.replace(tzinfo=None)
    table = _table(
        session,
        "mixed",
        [naive - timedelta(hours=2), naive + timedelta(days=30), naive + timedelta(days=31)],
    )
    result = _freshness(tmp_path, session, table, FRESHNESS)
    assert result.status == "fail" and result.failing_rows == 2
    assert "2 hours old (fresh; allowed 2 days)" in result.message


def test_a_little_ahead_of_the_clock_passes_within_the_allowance(
    tmp_path: Path, engine: DuckDBEngine
) -> None:
    session = CountingSession(engine.session())
    naive = NOW.replace(tzinfo=None)
    table = _table(session, "skewed", [naive - timedelta(hours=5), naive + timedelta(hours=3)])
    result = _freshness(tmp_path, session, table, FRESHNESS)
    assert result.status == "pass"
    assert "3 hours in the future, within the allowed 1 day ahead" in result.message
    strict = """
    columns:
      ordered_at:
        checks:
          - freshness: {max_age: 2 days, max_future: 1 hour}
    """
    tight = _freshness(tmp_path, session, table, strict)
    assert tight.status == "fail" and "beyond 1 hour from now" in tight.message


def test_dates_and_zoned_timestamps(tmp_path: Path, engine: DuckDBEngine) -> None:
    session = CountingSession(engine.session())
    today = NOW.date()
    dates = _table(session, "days", [today - timedelta(days=1), today])
    assert "dated today" in _freshness(tmp_path, session, dates, FRESHNESS).message
    ahead = _table(session, "days_ahead", [today, date(2027, 1, 1)])
    result = _freshness(tmp_path, session, ahead, FRESHNESS)
    assert result.status == "fail" and result.failing_rows == 1
    zoned = _table(session, "zoned", [NOW - timedelta(days=3), NOW + timedelta(days=10)])
    result = _freshness(tmp_path, session, zoned, FRESHNESS)
    assert result.status == "fail" and "3 days old (stale" in result.message
