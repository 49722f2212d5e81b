"""Suggested checks that stop defects before publish: lengths, relationships, volume, freshness.

The suggestions are written as a user keeps them and parsed back into checks, so what is
asserted is what a project would run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml

from headgate.checks.profile import profile_table
from headgate.checks.suggest import BuildHistory, Suggestion, suggest_checks, suggestions_yaml
from headgate.engines.duckdb import DuckDBSession
from tests.checks.support import model_checks
from tests.support import cli, write_project

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def _session(tmp_path: Path) -> DuckDBSession:
    return DuckDBSession(duckdb.connect(str(tmp_path / "warehouse.duckdb")).cursor())


def _by(suggestions: list[Suggestion]) -> dict[tuple[str | None, str], Any]:
    return {(s.column, s.type): s.check for s in suggestions}


def test_strings_get_a_length_with_headroom(tmp_path: Path) -> None:
    session = _session(tmp_path)
    session.execute(
        "CREATE TABLE people AS SELECT i AS id, repeat('x', 3 + i % 36) AS name, "
        "CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS kind FROM range(500) AS r(i)"
    )
    checks = _by(suggest_checks(profile_table(session, "people", now=NOW), model="people"))
    assert checks[("name", "length")] == {"length": {"min": 1, "max": 60}}  # longest is 38
    assert ("kind", "length") not in checks  # its accepted values bound it already


def test_volume_and_freshness_block_with_thresholds_from_the_build_history(
    tmp_path: Path,
) -> None:
    session = _session(tmp_path)
    session.execute(
        "CREATE TABLE sales AS SELECT i AS id, 10.0 + i % 7 AS amount, "
        "CASE WHEN i % 10 = 0 THEN NULL ELSE i % 3 END AS coupon, "
        "TIMESTAMP '2026-05-04 09:00:00' - INTERVAL (i) MINUTE AS sold_at FROM range(3000) AS r(i)"
    )
    profile = profile_table(session, "sales", now=NOW)
    growing = BuildHistory(
        row_counts=[1000.0, 1480.0, 2010.0, 2500.0, 3000.0],
        lags={"sold_at": [2.5 * 3600, 3.0 * 3600, 2.0 * 3600, 4.0 * 3600]},
    )
    suggestions = suggest_checks(profile, model="sales", history=growing)
    checks = _by(suggestions)
    assert checks[(None, "row_count")] == {"row_count": {"max_change": "10%", "direction": "drop"}}
    assert checks[(None, "monitor")] == {
        "monitor": {
            "metric": "row_count",
            "rows": "added",
            "direction": "drop",
            "method": "mean",
            "rules": [1],
        }
    }
    assert checks[("sold_at", "freshness")] == {"freshness": {"max_age": "12 hours"}}  # 2 x 4 h
    assert checks[("amount", "monitor")] == {
        "monitor": {"metric": "mean", "rows": "added", "method": "mean", "rules": [1]}
    }
    coupon = [s.check for s in suggestions if s.column == "coupon" and s.type == "monitor"]
    assert {
        "monitor": {
            "metric": "null_fraction",
            "rows": "added",
            "direction": "growth",
            "method": "mean",
            "rules": [1],
        }
    } in coupon
    # every suggestion is an error check (blocks publishing)
    assert not [s for s in suggestions if isinstance(s.check, dict) and "severity" in s.check]

    # the same table without history: freshness warns until builds show its usual lag
    fresh = _by(suggest_checks(profile, model="sales"))[("sold_at", "freshness")]
    assert fresh == {"freshness": {"max_age": "6 hours"}, "severity": "warn"}


def test_suggested_monitors_are_named_after_column_and_metric(tmp_path: Path) -> None:
    session = _session(tmp_path)
    session.execute(
        "CREATE TABLE sales AS SELECT i AS id, 10.0 + i % 7 AS amount, "
        "CASE WHEN i % 10 = 0 THEN NULL ELSE 1.0 * (i % 3) END AS discount "
        "FROM range(3000) AS r(i)"
    )
    profile = profile_table(session, "sales", now=NOW)
    text = suggestions_yaml("sales", suggest_checks(profile, model="sales"), profile=profile)
    names = {c.name for c in model_checks(tmp_path, text) if c.type == "monitor"}
    assert names == {
        "staging.orders.monitor.row_count",
        "staging.orders.amount.monitor.mean",
        "staging.orders.discount.monitor.mean",
        "staging.orders.discount.monitor.null_fraction",
    }


SHOP = {
    "models/staging/customers.sql": "select * from range(1, 201) as t(id)",
    "models/staging/orders.sql": (
        "select i as order_id, 1 + i % 200 as customer_id, 'x' as note from range(1000) as t(i)"
    ),
    "models/staging/payments.sql": (
        "select i as payment_id, case when i = 7 then 9999 else i % 1000 end as order_id "
        "from range(2000) as t(i)"
    ),
}


def test_orphan_keys_are_found_by_name_and_one_query_per_pair(tmp_path: Path) -> None:
    root = write_project(tmp_path, SHOP)
    cli(root, "run", check=True)
    orders = yaml.safe_load(cli(root, "checks", "suggest", "staging.orders", check=True).stdout)
    assert {"relationships": {"to": "staging.customers", "column": "id"}} in orders["columns"][
        "customer_id"
    ]["checks"]
    shown = cli(root, "checks", "suggest", "staging.payments", check=True).stdout
    payments = yaml.safe_load(shown)
    assert {"relationships": {"to": "staging.orders", "column": "order_id"}} in payments["columns"][
        "order_id"
    ]["checks"]
    assert "would FAIL now: 1 of 2,000 rows have a order_id not found in staging.orders" in shown
    assert "relationships" not in str(orders["columns"]["order_id"])  # its own key
    customers = yaml.safe_load(cli(root, "checks", "suggest", "staging.customers").stdout)
    assert "relationships" not in str(customers)  # its id is nobody's reference
