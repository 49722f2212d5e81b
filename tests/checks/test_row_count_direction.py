"""``row_count: {max_change: ...}`` judges the direction a user says matters."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate.checks.results import CheckResult
from headgate.checks.runner import run_checks
from headgate.errors import ProjectError
from tests.checks.support import CountingSession, model_checks


def _row_count(
    tmp_path: Path, session: CountingSession, direction: str | None, previous: float
) -> CheckResult:
    options = "{max_change: 50%" + (f", direction: {direction}" if direction else "") + "}"
    checks = model_checks(tmp_path, f"checks:\n  - row_count: {options}\n")
    (result,) = run_checks(
        session, "hp.orders", checks, dialect="duckdb", previous={"staging.orders": previous}
    )
    return result


def test_a_young_append_only_table_may_double_when_only_drops_matter(
    tmp_path: Path, session: CountingSession
) -> None:
    # hp.orders has 1,000 rows: day 2 of a table that had 500 on day 1
    grown = _row_count(tmp_path, session, None, 500)
    assert grown.status == "fail"
    assert "100% more than the previous run's 500, above the allowed 50%" in grown.message
    assert "add direction: drop to judge only drops, or raise max_change" in grown.message
    allowed = _row_count(tmp_path, session, "drop", 500)
    assert allowed.status == "pass"
    assert "100% more than the previous run's 500 (growth is not judged)" in allowed.message
    collapsed = _row_count(tmp_path, session, "drop", 5_000)
    assert collapsed.status == "fail"
    assert "80% fewer than the previous run's 5,000" in collapsed.message
    assert "if this change is expected, raise max_change above 50%" in collapsed.message


def test_growth_only_and_both_directions(tmp_path: Path, session: CountingSession) -> None:
    assert _row_count(tmp_path, session, "growth", 5_000).status == "pass"
    assert _row_count(tmp_path, session, "growth", 500).status == "fail"
    both = _row_count(tmp_path, session, "both", 5_000)
    assert both.status == "fail" and "add direction: growth" in both.message


def test_direction_without_max_change_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as caught:
        model_checks(tmp_path, "checks:\n  - row_count: {min: 1, direction: drop}\n")
    assert "direction applies to max_change" in caught.value.render()
    with pytest.raises(ProjectError) as caught:
        model_checks(tmp_path, "checks:\n  - row_count: {max_change: 5%, direction: down}\n")
    assert "both" in caught.value.render() and "drop" in caught.value.render()
