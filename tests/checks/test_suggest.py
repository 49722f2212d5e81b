"""Suggested checks: on the demo shop's raw tables they must catch every planted defect.

The demo is deterministic (seed 42), so the planted counts in its summary are exact and
the suggestions are asserted against them: a suggested check that would fail now with the
number of rows it fails, or a hygiene finding naming the problem. Clean columns must not
raise false alarms. The YAML is parsed back and validated as model options.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml

from headgate.checks.profile import Profile, profile_table
from headgate.checks.suggest import Suggestion, suggest_checks, suggestions_yaml
from headgate.demo import DemoSummary, write_demo_project
from headgate.engines.duckdb import DuckDBSession
from headgate.project.config import ModelOptions

# After the demo's last order (2026-10-31) and its last bank transfer (2026-11-03).
NOW = datetime(2026, 11, 4, tzinfo=UTC)
READERS = {"csv": "read_csv", "parquet": "read_parquet", "ndjson": "read_json"}
STATUSES = ["cancelled", "delivered", "placed", "returned", "shipped"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoSummary, DuckDBSession]]:
    folder = tmp_path_factory.mktemp("demo")
    summary = write_demo_project(folder / "shop")
    connection = duckdb.connect(str(folder / "warehouse.duckdb"))
    connection.execute("CREATE SCHEMA shop")
    source = yaml.safe_load((summary.path / "sources" / "shop.yml").read_text(encoding="utf-8"))
    for table, spec in source["tables"].items():
        path = str(summary.path / spec["path"]).replace("'", "''")
        reader = READERS[spec["format"]]
        connection.execute(f"CREATE TABLE shop.{table} AS SELECT * FROM {reader}('{path}')")
    yield summary, DuckDBSession(connection.cursor())
    connection.close()


@pytest.fixture(scope="module")
def profiles(demo: tuple[DemoSummary, DuckDBSession]) -> dict[str, Profile]:
    _, session = demo
    tables = ("orders", "customers", "products", "order_items", "payments")
    return {t: profile_table(session, f"shop.{t}", now=NOW) for t in tables}


def planted(summary: DemoSummary, table: str, column: str, kind: str) -> int:
    return next(
        d.rows
        for d in summary.defects
        if (d.table, d.column, d.kind) == (f"shop.{table}", column, kind)
    )


def failing(profile: Profile) -> dict[tuple[str | None, str], Suggestion]:
    suggestions = suggest_checks(profile, model=profile.table)
    return {(s.column, s.type): s for s in suggestions if s.would_fail}


def test_orders_defects_are_caught(
    demo: tuple[DemoSummary, DuckDBSession], profiles: dict[str, Profile]
) -> None:
    summary, _ = demo
    found = failing(profiles["orders"])
    assert set(found) == {
        ("id", "unique"),
        ("customer_id", "not_null"),
        ("ordered_at", "range"),
        ("ordered_at", "expression"),
        ("status", "accepted_values"),
    }, "clean columns (channel, currency) raise no alarm"

    duplicates = planted(summary, "orders", "id", "duplicate_key")
    unique = found[("id", "unique")]
    assert f"{duplicates:,} duplicated values" in unique.reason
    assert unique.violations == 2 * duplicates  # each re-sent order appears twice

    assert found[("customer_id", "not_null")].violations == planted(
        summary, "orders", "customer_id", "null"
    )

    status = found[("status", "accepted_values")]
    assert status.check == {"accepted_values": {"values": STATUSES}}
    mixed = planted(summary, "orders", "status", "mixed_case")
    placeholders = planted(summary, "orders", "status", "placeholder")
    assert status.violations == mixed + placeholders
    hygiene = {f.kind: f.count for f in profiles["orders"].column("status").hygiene}
    assert hygiene == {"mixed_case": mixed, "placeholder": placeholders}

    future = planted(summary, "orders", "ordered_at", "future_date")
    epoch = planted(summary, "orders", "ordered_at", "epoch_date")
    assert found[("ordered_at", "expression")].check == {
        "expression": {"sql": "ordered_at <= current_timestamp"}
    }
    assert found[("ordered_at", "expression")].violations == future
    assert found[("ordered_at", "range")].check == {"range": {"min": date(2024, 1, 1)}}
    assert found[("ordered_at", "range")].violations == epoch
    dates = {f.kind: f.count for f in profiles["orders"].column("ordered_at").hygiene}
    assert dates == {"far_future_date": future, "epoch_date": epoch}


def test_customers_defects_are_caught(
    demo: tuple[DemoSummary, DuckDBSession], profiles: dict[str, Profile]
) -> None:
    summary, _ = demo
    customers = profiles["customers"]
    found = failing(customers)
    assert set(found) == {("email", "regex"), ("country", "accepted_values")}

    spaces = planted(summary, "customers", "email", "leading_space")
    malformed = planted(summary, "customers", "email", "invalid_format")
    assert customers.column("email").finding("surrounding_spaces").count == spaces  # type: ignore[union-attr]
    email = found[("email", "regex")]
    assert email.violations == spaces + malformed
    assert f"{malformed:,} malformed" in email.reason
    assert f"{spaces:,} only because of surrounding spaces" in email.reason

    country = found[("country", "accepted_values")]
    assert country.violations == planted(summary, "customers", "country", "placeholder")
    assert "'N/A'" in country.reason and "'-'" in country.reason


def test_order_items_quantities_and_product_weights_are_caught(
    demo: tuple[DemoSummary, DuckDBSession], profiles: dict[str, Profile]
) -> None:
    summary, _ = demo
    found = failing(profiles["order_items"])
    assert set(found) == {("quantity", "range")}
    quantity = found[("quantity", "range")]
    assert quantity.check == {"range": {"min": 1}}
    assert quantity.violations == planted(summary, "order_items", "quantity", "negative_amount")

    assert failing(profiles["products"]) == {}
    weight = profiles["products"].column("weight").finding("number_as_text")
    assert weight is not None
    assert weight.count == planted(summary, "products", "weight", "number_as_text")


def failing_rows(session: DuckDBSession, table: str, suggestion: Suggestion) -> int:
    """The rows the suggested check fails, counted by the warehouse in plain SQL."""
    column = f'"{suggestion.column}"'
    body: dict[str, Any] = {}
    if isinstance(suggestion.check, dict):
        body = suggestion.check[suggestion.type]
    if suggestion.type == "not_null":
        condition = f"{column} IS NULL"
    elif suggestion.type == "unique":
        duplicated = f"SELECT {column} FROM {table} GROUP BY {column} HAVING count(*) > 1"
        condition = f"{column} IN ({duplicated})"
    elif suggestion.type == "accepted_values":
        condition = f"{column} NOT IN ({', '.join(repr(v) for v in body['values'])})"
    elif suggestion.type == "range":
        low = body["min"]
        bound = f"DATE '{low}'" if isinstance(low, date) else str(low)
        condition = f"{column} {'<' if body.get('inclusive', True) else '<='} {bound}"
    elif suggestion.type == "regex":
        condition = f"NOT regexp_matches({column}, '{body['pattern']}')"
    else:
        assert suggestion.type == "expression"
        condition = f"NOT ({body['sql']})"
    return int(session.execute(f"SELECT count(*) FROM {table} WHERE {condition}")[0][0])


def test_failing_counts_are_what_the_warehouse_counts(
    demo: tuple[DemoSummary, DuckDBSession], profiles: dict[str, Profile]
) -> None:
    _, session = demo
    checked = 0
    for name, profile in profiles.items():
        for suggestion in failing(profile).values():
            assert suggestion.violations == failing_rows(session, f"shop.{name}", suggestion)
            checked += 1
    assert checked == 8


def test_clean_columns_get_rules_that_pass(profiles: dict[str, Profile]) -> None:
    suggestions = suggest_checks(profiles["payments"], model="shop.payments")
    assert not [s for s in suggestions if s.would_fail]
    checks = {(s.column, s.type): s.check for s in suggestions}
    assert checks[("id", "unique")] == "unique"
    assert checks[("method", "accepted_values")] == {
        "accepted_values": {"values": ["bank_transfer", "card", "gift_card", "klarna", "paypal"]}
    }
    assert checks[("amount", "range")] == {"range": {"min": 0, "inclusive": False}}
    # the newest payment (2026-11-03 18:09) is 5.8 hours old: twice that, rounded up
    assert checks[("paid_at", "freshness")] == {
        "freshness": {"max_age": "12 hours"},
        "severity": "warn",
    }
    # without build history: a drop of over half the rows blocks publishing, growth never does
    assert checks[(None, "row_count")] == {"row_count": {"max_change": "50%", "direction": "drop"}}


def test_yaml_is_valid_model_options_with_reasons_above_checks(
    profiles: dict[str, Profile],
) -> None:
    from headgate.checks.spec import check_type

    profile = profiles["orders"]
    suggestions = suggest_checks(profile, model="shop.orders")
    text = suggestions_yaml("shop.orders", suggestions, profile=profile)

    assert text.startswith(
        "# Suggested checks for shop.orders (profile of 120,150 rows, 2026-11-04)."
    )
    options = yaml.safe_load(text)
    ModelOptions.model_validate(options)
    for suggestion in suggestions:
        if suggestion.column is None:
            assert suggestion.check in options["checks"]
        else:
            assert suggestion.check in options["columns"][suggestion.column]["checks"]
        body = suggestion.check if isinstance(suggestion.check, dict) else {suggestion.check: None}
        check_type(suggestion.type).parse_params(body[suggestion.type])
    lines = text.splitlines()
    unique = lines.index("      - unique")
    assert lines[unique - 1].startswith("      # would FAIL now: 150 duplicated values")
    assert "    # profile: 60 values are placeholders for a missing value, e.g. 'N/A'" in lines


def test_baseline_centres_the_band_and_reports_shifts(tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    session = DuckDBSession(connection.cursor())

    def profile(name: str, rows: int, nulls_every: int, shift: float) -> Profile:
        table = pa.table(
            {
                "amount": [
                    None if i % nulls_every == 0 else 10.0 + i % 7 + shift for i in range(rows)
                ],
                "customer_id": [i % (rows // 4) for i in range(rows)],
            }
        )
        session.create_table_from_arrow(name, table)
        return profile_table(session, name, now=NOW)

    before = profile("before", 1000, 50, 0.0)
    after = profile("after", 700, 8, 3.0)
    suggestions = suggest_checks(after, model="after", baseline=before)
    volume = next(s for s in suggestions if s.type == "row_count")
    assert volume.check == {"row_count": {"max_change": "50%", "direction": "drop"}}
    assert not volume.would_fail and "after has 700 now (-30.0% from 1,000)" in volume.reason
    halved = suggest_checks(after, model="after", baseline=profile("big", 1500, 50, 0.0))
    assert next(s for s in halved if s.type == "row_count").would_fail
    monitors = {}
    for s in suggestions:
        if isinstance(s.check, dict) and "monitor" in s.check:
            monitors[(s.check["monitor"]["metric"], s.column)] = s.reason
    assert monitors[("null_fraction", "amount")] == (
        "SHIFTED since the baseline, from 2.0%; amount is 12.6% null"
    )
    assert monitors[("mean", "amount")].startswith("SHIFTED since the baseline, from 13")
    # a quarter of the rows name distinct customers, before and after: no shift
    assert (
        monitors[("distinct_fraction", "customer_id")] == "25.0% of customer_id values are distinct"
    )
    connection.close()


def test_rare_zeros_pass_but_rare_negatives_fail(tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    session = DuckDBSession(connection.cursor())
    session.execute(
        "CREATE TABLE lines AS SELECT CASE WHEN i % 500 = 0 THEN 0 ELSE 1 + i % 5 END AS free, "
        "CASE WHEN i % 500 = 0 THEN -1 ELSE 1 + i % 5 END AS keyed FROM range(5000) AS r(i)"
    )
    ranges = {
        s.column: s
        for s in suggest_checks(profile_table(session, "lines", now=NOW), model="lines")
        if s.type == "range"
    }
    assert ranges["free"].check == {"range": {"min": 0}} and not ranges["free"].would_fail
    assert ranges["keyed"].check == {"range": {"min": 1}}
    assert ranges["keyed"].would_fail and ranges["keyed"].violations == 10
    connection.close()
