"""unique and unique_combination: the same verdicts whether keys are dense integers or not.

Dense integer keys take DuckDB's perfect-hash path (a distinct count, then a grouping by
one composite number decoded back into the key columns); any other key takes the
general grouping. The same duplicates, spread out so they are no longer dense, must give
the same failing counts and the same samples.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from headgate.checks.results import CheckResult
from headgate.checks.runner import run_checks
from headgate.engines.duckdb import DuckDBEngine
from tests.checks.support import CountingSession, model_checks

CHECKS = """
columns:
  a: {checks: [unique]}
checks:
  - unique_combination: {columns: [a, b]}
  - unique_combination: {columns: [a, b]}
    where: "a >= -1 * {spread}"
    name: pairs_from_minus_1
"""


def _table(spread: int) -> pa.Table:
    """Keys around zero (negatives too), two repeated pairs, a NULL that never counts."""
    a = [-3, -2, -1, 0, 1, 2, 2, 2, 3, 3, None, 4, 5]
    b = [0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1]
    return pa.table(
        {
            "a": pa.array([None if v is None else v * spread for v in a], pa.int64()),
            "b": pa.array(b, pa.int32()),
        }
    )


def _run(
    engine: DuckDBEngine, tmp_path: Path, spread: int
) -> tuple[dict[str, CheckResult], list[str]]:
    session = CountingSession(engine.session())
    session.create_table_from_arrow(f"hp.keys_{spread}", _table(spread))
    options = CHECKS.replace("{spread}", str(spread))
    checks = model_checks(tmp_path, options, ["a", "b"], name=f"keys_{spread}")
    results = run_checks(session, f"hp.keys_{spread}", checks, dialect="duckdb")
    return {r.name: r for r in results}, session.queries


def _unspread(sample: list[dict[str, object]], spread: int) -> list[tuple[object, ...]]:
    return sorted(
        (row["a"] // spread if isinstance(row["a"], int) else row["a"], row["b"], row["rows"])
        for row in sample
    )


def test_dense_and_sparse_keys_find_the_same_duplicates(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    dense, dense_sql = _run(engine, tmp_path, 1)
    sparse, sparse_sql = _run(engine, tmp_path, 1_000_000)
    # dense: each of the three checks counts distinct, then groups by the key number
    assert sum("COUNT(DISTINCT" in sql for sql in dense_sql) == 3
    assert sum("headgate_key_number" in sql for sql in dense_sql) == 3
    assert not any("DISTINCT" in sql or "headgate_key_number" in sql for sql in sparse_sql)

    for results, spread in ((dense, 1), (sparse, 1_000_000)):
        one = results[f"keys_{spread}.a.unique"]
        assert (one.status, one.failing_rows, one.total_rows) == ("fail", 5, 13)
        assert sorted((row["a"] // spread, row["rows"]) for row in one.sample) == [(2, 3), (3, 2)]
        pairs = results[f"keys_{spread}.unique_combination"]
        assert (pairs.status, pairs.failing_rows) == ("fail", 5)
        assert _unspread(pairs.sample, spread) == [(2, 1, 3), (3, 0, 2)]
        # the SQL a user is shown groups by the key columns, whichever way it was decided
        assert pairs.sql is not None and 'GROUP BY\n    "a",\n    "b"' in pairs.sql
        kept = results["pairs_from_minus_1"]
        assert (kept.failing_rows, kept.total_rows) == (5, 10)
        assert _unspread(kept.sample, spread) == [(2, 1, 3), (3, 0, 2)]


def test_dense_keys_without_duplicates_pass_with_one_distinct_count(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    session = CountingSession(engine.session())
    session.create_table_from_arrow(
        "hp.ids", pa.table({"id": pa.array(range(-500, 500), pa.int64())})
    )
    checks = model_checks(tmp_path, "columns:\n  id: {checks: [unique]}\n", ["id"], name="ids")
    (result,) = run_checks(session, "hp.ids", checks, dialect="duckdb")
    assert (result.status, result.failing_rows, result.total_rows) == ("pass", 0, 1000)
    assert len(session.queries) == 2 and "COUNT(DISTINCT" in session.queries[1]
    # the engine's setting is back to what it was
    assert session.inner.execute("SELECT current_setting('perfect_ht_threshold')") == [(12,)]


def test_a_dense_key_starting_at_zero_reports_its_duplicates(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    """A key from 0 upward is its own number in the dense path: the sample names it."""
    session = engine.session()
    session.create_table_from_arrow(
        "hp.ids", pa.table({"id": pa.array([0, 1, 2, 2, 3], pa.int64())})
    )
    checks = model_checks(tmp_path, "columns:\n  id: {checks: [unique]}\n", ["id"], name="ids")
    (result,) = run_checks(session, "hp.ids", checks, dialect="duckdb")
    assert result.status == "fail"
    assert result.failing_rows == 2
    assert [(row["id"], row["rows"]) for row in result.sample] == [(2, 2)]
