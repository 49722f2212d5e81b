"""Running checks on a real DuckDB warehouse: what a user sees for each check type."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from headgate.checks.compiler import fused_scan
from headgate.checks.parse import parse_custom_checks
from headgate.checks.results import CheckResult
from headgate.checks.runner import run_checks
from headgate.checks.sqlgen import SAMPLE_LIMIT
from tests.checks.support import (
    CUSTOMERS,
    FAILING_WITHOUT_COUNT,
    NOW,
    ORDERS_CHECKS,
    PLANTED,
    CountingSession,
    columns_of,
    model_checks,
    resolver,
)


def run(
    session: CountingSession, table: str, checks: list, **options: object
) -> dict[str, CheckResult]:
    results = run_checks(
        session,
        table,
        checks,
        dialect="duckdb",
        resolve=resolver(CUSTOMERS),
        now=NOW,
        **options,  # type: ignore[arg-type]
    )
    return {result.name: result for result in results}


def test_every_check_type_passes_on_clean_data(tmp_path: Path, session: CountingSession) -> None:
    checks = model_checks(tmp_path, ORDERS_CHECKS, columns_of(session, "hp.clean_orders"))
    results = run(session, "hp.clean_orders", checks)
    assert {r.type for r in results.values()} >= {
        "not_null",
        "unique",
        "relationships",
        "accepted_values",
        "range",
        "regex",
        "length",
        "freshness",
        "row_count",
        "unique_combination",
        "expression",
        "contract",
    }
    failed = {name: r.message for name, r in results.items() if r.status != "pass"}
    assert failed == {}
    assert all(r.sample == [] for r in results.values())
    unique = results["staging.orders.order_id.unique"]
    assert (unique.failing_rows, unique.total_rows, unique.failing_fraction) == (0, 1000, 0.0)
    assert results["staging.orders.contract"].message == "9 columns match the contract"


def test_each_check_type_fails_with_the_planted_count(
    tmp_path: Path, session: CountingSession
) -> None:
    checks = model_checks(tmp_path, ORDERS_CHECKS, columns_of(session, "hp.orders"))
    results = run(session, "hp.orders", checks)
    failing = {name: r.failing_rows for name, r in results.items() if r.status == "fail"}
    assert {k: v for k, v in failing.items() if k not in FAILING_WITHOUT_COUNT} == PLANTED
    assert set(failing) - set(PLANTED) == FAILING_WITHOUT_COUNT
    passed = {name for name, r in results.items() if r.status == "pass"}
    assert passed == {
        "staging.orders.row_id.not_null",
        "staging.orders.row_id.unique",
        "staging.orders.order_id.not_null",
        "staging.orders.row_count",
    }
    nulls = results["staging.orders.email.not_null"]
    assert nulls.message == "10 of 1,000 rows (1%) are null; tolerated 0"
    assert nulls.total_rows == 1000 and nulls.failing_fraction == pytest.approx(0.01)
    assert results["staging.orders.status.accepted_values"].message.startswith(
        "25 of 1,000 rows (2.5%) are not one of placed, shipped, returned"
    )
    fresh = results["staging.orders.ordered_at.freshness"]
    assert "3 days 1 hour old; allowed 2 days" in fresh.message
    contract = results["staging.orders.contract"]
    assert contract.sample == [
        {"column": "note", "change": "added", "contract": None, "actual": "VARCHAR"}
    ]


def test_samples_only_for_failed_checks_and_at_most_twenty_rows(
    tmp_path: Path, session: CountingSession
) -> None:
    checks = model_checks(tmp_path, ORDERS_CHECKS, columns_of(session, "hp.orders"))
    results = run(session, "hp.orders", checks)
    for result in results.values():
        if result.status == "pass":
            assert result.sample == []
        assert len(result.sample) <= SAMPLE_LIMIT
    orphans = results["staging.orders.customer_id.relationships"].sample
    assert len(orphans) == SAMPLE_LIMIT
    assert all(50 <= row["customer_id"] <= 59 for row in orphans)
    assert set(orphans[0]) >= {"row_id", "customer_id", "email"}  # whole rows
    lengths = results["staging.orders.email.length"].sample
    assert [row["email"] for row in lengths] == ["x"] * 4
    duplicates = results["staging.orders.order_id.unique"].sample
    assert sorted((row["order_id"], row["rows"]) for row in duplicates) == [(1, 2), (2, 2), (3, 2)]
    pairs = results["staging.orders.unique_combination"].sample
    assert sorted((row["order_id"], row["line"], row["rows"]) for row in pairs) == [
        (1, 1, 2),
        (2, 1, 2),
    ]


def test_aggregate_checks_read_the_table_in_exactly_one_query_and_unique_in_one_more(
    tmp_path: Path, session: CountingSession
) -> None:
    options = """
    columns:
      row_id: {checks: [not_null, unique]}
      status:
        checks: [{accepted_values: {values: [placed, shipped]}}, not_null]
      amount:
        checks: [{range: {min: 0, max: 49}}, not_null]
      email:
        checks: [{regex: {pattern: '@'}}, {length: {min: 3}}]
      ordered_at:
        checks: [{freshness: {max_age: 1 week}}]
    checks:
      - row_count: {min: 1}
      - expression: {sql: "discount <= amount"}
    """
    checks = model_checks(tmp_path, options, columns_of(session, "hp.clean_orders"))
    assert len(checks) == 11
    results = run(session, "hp.clean_orders", checks)
    assert [r.status for r in results.values()] == ["pass"] * 11
    # the fused scan, and unique's distinct count (its row_id keys are dense integers)
    assert len(session.queries) == 2
    for query in session.queries:
        tables = list(sqlglot.parse_one(query, read="duckdb").find_all(exp.Table))
        assert {t.name for t in tables} == {"clean_orders"}
    assert "DISTINCT" in session.queries[1] and "DISTINCT" not in session.queries[0]

    session.queries.clear()
    results = run(session, "hp.orders", checks)
    failed = [r for r in results.values() if r.status != "pass"]
    assert {r.name for r in failed} == {
        "staging.orders.status.accepted_values",
        "staging.orders.status.not_null",
        "staging.orders.amount.range",
        "staging.orders.amount.not_null",
        "staging.orders.email.regex",
        "staging.orders.email.length",
        "staging.orders.expression",
    }
    # one scan, unique's distinct count, then one query per failed check for its failing rows
    assert len(session.queries) == 2 + len(failed)
    assert "DISTINCT" in session.queries[1]
    assert all("LIMIT 20" in sql for sql in session.queries[2:])


def test_where_and_max_failures(tmp_path: Path, session: CountingSession) -> None:
    # Of the 474 shipped orders, 5 have a negative amount (the other 5 are 'lost').
    options = """
    columns:
      amount:
        checks:
          - range: {min: 0}
            where: "status = 'shipped'"
          - range: {min: 0}
            where: "status = 'shipped'"
            max_failures: 1%
          - range: {min: 0}
            where: "status = 'shipped'"
            max_failures: 2%
          - range: {min: 0}
            where: "status = 'shipped'"
            max_failures: 5
          - range: {min: 0}
            where: "status = 'shipped'"
            max_failures: 4
    """
    checks = model_checks(tmp_path, options, columns_of(session, "hp.orders"))
    results = list(run(session, "hp.orders", checks).values())
    assert [(r.failing_rows, r.total_rows) for r in results] == [(5, 474)] * 5
    assert [r.status for r in results] == ["fail", "fail", "pass", "pass", "fail"]
    assert results[1].message == "5 of 474 rows (1.05%) are below 0; tolerated 1% (4 rows)"
    assert results[3].threshold == "at most 5 failing rows"
    assert all(row["status"] == "shipped" and row["amount"] < 0 for row in results[0].sample)


def test_warn_severity_reports_warn_with_a_sample(tmp_path: Path, session: CountingSession) -> None:
    options = """
    columns:
      email:
        checks:
          - not_null:
            severity: warn
          - not_null
    """
    checks = model_checks(tmp_path, options, columns_of(session, "hp.orders"))
    warn, fail = run(session, "hp.orders", checks).values()
    assert (warn.status, warn.blocking, len(warn.sample)) == ("warn", False, 10)
    assert (fail.status, fail.blocking) == ("fail", True)
    assert fail.name == "staging.orders.email.not_null_2"


def test_a_broken_check_is_an_error_and_the_others_report_normally(
    tmp_path: Path, session: CountingSession
) -> None:
    options = """
    columns:
      email:
        checks: [not_null, {length: {min: 3}}]
    checks:
      - expression: {sql: "no_such_function(amount) > 0"}
      - row_count: {min: 1}
      - expression: {sql: "CAST(amount * 1000 AS TINYINT) > -1000"}
      - expression: {sql: "amount >= discount"}
    """
    checks = model_checks(tmp_path, options, columns_of(session, "hp.orders"))
    results = list(run(session, "hp.orders", checks).values())
    assert [r.status for r in results] == ["fail", "fail", "error", "pass", "error", "fail"]
    assert [r.failing_rows for r in results if r.status == "fail"] == [10, 4, 5]
    missing, overflow = results[2], results[4]
    assert "no_such_function" in missing.message and missing.message.startswith(
        "could not run the check: "
    )
    assert "out of range" in overflow.message or "Conversion" in overflow.message
    # each culprit carries its own SQL, which fails alone the same way
    assert missing.sql is not None and "NO_SUCH_FUNCTION" in missing.sql.upper()
    assert overflow.sql is not None and "TINYINT" in overflow.sql
    assert "amount >= discount" not in overflow.sql
    assert missing.blocking and overflow.blocking  # undecided is never a pass


def test_an_unreadable_table_fails_every_check_without_bisecting(
    tmp_path: Path, session: CountingSession
) -> None:
    checks = model_checks(tmp_path, ORDERS_CHECKS, columns_of(session, "hp.orders"))
    scanned = [c for c in checks if c.type not in {"relationships", "unique_combination"}]
    scanned = [c for c in scanned if c.type != "contract"]
    results = run(session, "hp.missing", scanned)
    assert {r.status for r in results.values()} == {"error"}
    assert all("missing" in r.message for r in results.values())
    assert len(session.queries) == 2  # the scan, and one probe of the table


def test_row_count_bounds_and_change_against_the_previous_run(
    tmp_path: Path, session: CountingSession
) -> None:
    options = """
    checks:
      - row_count: {min: 2000}
      - row_count: {max_change: 20%}
      - row_count: {max: 999}
        where: "status = 'lost'"
    """
    checks = model_checks(tmp_path, options)
    first = run(session, "hp.orders", checks)
    assert first["staging.orders.row_count"].message == "1,000 rows: fewer than the minimum 2,000"
    assert first["staging.orders.row_count_2"].status == "pass"
    assert "no previous run" in first["staging.orders.row_count_2"].message
    assert first["staging.orders.row_count_3"].total_rows == 25
    grown = run(session, "hp.orders", checks, previous={"staging.orders": 700})
    change = grown["staging.orders.row_count_2"]
    assert change.status == "fail"
    assert change.message.startswith(
        "1,000 rows: 42.86% more than the previous run's 700, above the allowed 20%. "
        "if the table is expected to grow (append-only), add direction: drop"
    )
    steady = run(session, "hp.orders", checks, previous={"staging.orders": 950})
    assert steady["staging.orders.row_count_2"].status == "pass"


def test_freshness_against_the_run_clock(tmp_path: Path, session: CountingSession) -> None:
    options = """
    columns:
      ordered_at:
        checks:
          - freshness: {max_age: 36h}
          - freshness: {max_age: 90 minutes}
          - freshness: {max_age: 1 week}
            where: "status = 'nothing'"
    """
    checks = model_checks(tmp_path, options)
    results = list(run(session, "hp.clean_orders", checks).values())
    assert [r.status for r in results] == ["pass", "pass", "fail"]
    assert "1 hour old" in results[0].message
    later = list(
        run_checks(
            session, "hp.clean_orders", checks, dialect="duckdb", now=NOW + timedelta(hours=1)
        )
    )
    assert [r.status for r in later] == ["pass", "fail", "fail"]
    assert "no ordered_at values" in later[2].message


def test_relationships_read_the_model_resolve_names(
    tmp_path: Path, session: CountingSession
) -> None:
    options = """
    columns:
      customer_id:
        checks:
          - relationships: {to: staging.customers, column: customer_id}
            where: "status = 'placed'"
      order_id:
        checks:
          - relationships: {to: staging.orders, column: row_id}
          - relationships: {to: marts.unknown, column: id}
    """
    checks = model_checks(tmp_path, options)
    results = list(run(session, "hp.orders", checks).values())
    placed = results[0]
    # 498 placed (odd) orders; half of the 160 orphans (customer ids 50..59) are odd
    assert (placed.status, placed.failing_rows, placed.total_rows) == ("fail", 80, 498)
    assert results[1].status == "pass"  # the checked model is the table being checked
    assert results[2].status == "error"
    assert "marts.unknown" in results[2].message


def test_null_values_are_not_failures_except_for_not_null(
    tmp_path: Path, session: CountingSession
) -> None:
    session.execute(
        "CREATE TABLE hp.nulls AS SELECT * FROM (VALUES (1, NULL), (2, NULL), (3, 'a')) t(id, v)"
    )
    options = """
    columns:
      v:
        checks:
          - unique
          - accepted_values: {values: [a]}
          - regex: {pattern: '^a$'}
          - length: {min: 1, max: 1}
          - range: {min: a, max: a}
          - not_null
    checks:
      - expression: {sql: "v = 'a'"}
    """
    checks = model_checks(tmp_path, options, ["id", "v"])
    results = list(run(session, "hp.nulls", checks).values())
    assert [r.status for r in results] == ["pass"] * 5 + ["fail", "pass"]
    assert results[5].failing_rows == 2


def test_contract_reports_added_removed_and_retyped_columns(
    tmp_path: Path, session: CountingSession
) -> None:
    session.execute(
        "CREATE TABLE hp.contracted (id INTEGER, amount DECIMAL(18, 3), note VARCHAR, "
        "placed TIMESTAMP WITH TIME ZONE)"
    )
    options = """
    checks:
      - contract: {columns: {id: int4, amount: decimal, note: text, placed: timestamptz}}
      - contract: {columns: {id: bigint, amount: "decimal(18,2)", gone: date, note: string}}
    """
    same, changed = run(session, "hp.contracted", model_checks(tmp_path, options)).values()
    assert same.status == "pass"
    assert changed.status == "fail"
    assert {(d["column"], d["change"]) for d in changed.sample} == {
        ("placed", "added"),
        ("gone", "removed"),
        ("id", "retyped"),
        ("amount", "retyped"),
    }
    assert "id is INTEGER, the contract says bigint" in changed.message
    assert changed.sql is not None and "information_schema" in changed.sql


def test_monitors_are_left_to_their_module(tmp_path: Path, session: CountingSession) -> None:
    options = """
    checks:
      - monitor: {metric: row_count, rules: [western_electric]}
      - row_count: {min: 1}
    """
    checks = model_checks(tmp_path, options)
    assert checks[0].params == {"metric": "row_count", "rules": ["western_electric"]}
    results = run_checks(session, "hp.orders", checks, dialect="duckdb")
    assert [r.type for r in results] == ["row_count"]


def test_result_becomes_a_json_safe_store_record(tmp_path: Path, session: CountingSession) -> None:
    checks = model_checks(tmp_path, "columns: {email: {checks: [not_null]}}")
    (result,) = run_checks(session, "hp.orders", checks, dialect="duckdb")
    record = result.to_record(run_id=7, physical_table="hp.orders")
    assert (record.run_id, record.status, record.failing_rows) == (7, "fail", 10)
    assert isinstance(record.sample[0]["ordered_at"], str)
    assert record.sql is not None and record.sql.startswith("SELECT")


def test_custom_sql_checks_read_the_build_and_other_models(
    tmp_path: Path, session: CountingSession
) -> None:
    folder = tmp_path / "checks"
    folder.mkdir()
    (folder / "no_negative_amounts.sql").write_text(
        "/* headgate:\nseverity: warn\n*/\nselect * from staging.orders where amount < 0\n"
    )
    (folder / "orders_have_customers.sql").write_text(
        "select o.row_id, o.customer_id from staging.orders o\n"
        "left join staging.customers c on o.customer_id = c.customer_id\n"
        "where o.customer_id is not null and c.customer_id is null\n"
    )
    (folder / "rows_have_ids.sql").write_text("select * from staging.orders where row_id is null")
    checks = [c for c in parse_custom_checks(tmp_path) if c.model == "staging.orders"]
    negative, orphans, ids = run(session, "hp.orders", checks).values()
    assert (negative.status, negative.failing_rows, negative.total_rows) == ("warn", 10, None)
    assert negative.message == ("10 rows returned by checks/no_negative_amounts.sql; tolerated 0")
    assert len(negative.sample) == 10 and all(r["amount"] < 0 for r in negative.sample)
    assert (orphans.status, orphans.failing_rows, len(orphans.sample)) == ("fail", 160, 20)
    assert orphans.sql is not None
    assert '"hp"."orders"' in orphans.sql and '"hp"."customers"' in orphans.sql
    assert (ids.status, ids.sample) == ("pass", [])


def test_fused_scan_shares_identical_aggregates(tmp_path: Path) -> None:
    options = """
    columns:
      a: {checks: [not_null, unique]}
      b:
        checks:
          - not_null
          - not_null:
            where: "a > 0"
    checks:
      - row_count: {min: 1}
    """
    checks = model_checks(tmp_path, options)
    fused = fused_scan("s.t", checks, "duckdb")
    assert fused.sql is not None
    assert fused.sql.count("COUNT(*)") == 1  # every check without a where shares its total
    assert [slot.columns for slot in fused.slots] == [
        {"failing": "c0_failing", "total": "c0_total"},
        {"total": "c0_total", "low0": "c1_low0", "high0": "c1_high0"},
        {"failing": "c2_failing", "total": "c0_total"},
        {"failing": "c3_failing", "total": "c3_total"},
        {"rows": "c0_total"},
    ]
    assert "/* staging.orders.a.not_null and 3 more */" in fused.sql
