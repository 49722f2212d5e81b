"""A model's checks, generated for the engine's dialect, find the same failures on every engine."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from headgate.checks.runner import run_checks
from headgate.engines.base import Engine
from tests.checks.support import (
    FAILING_WITHOUT_COUNT,
    NOW,
    ORDERS_CHECKS,
    PLANTED,
    model_checks,
    orders_table,
    resolver,
)


def test_every_planted_problem_is_found_and_nothing_else(
    engine: Engine, schema: str, tmp_path: Path
) -> None:
    session = engine.session()
    orders, customers = f"{schema}.orders", f"{schema}.customers"
    session.create_table_from_arrow(orders, orders_table(planted=True))
    session.create_table_from_arrow(
        customers, pa.table({"customer_id": pa.array(range(50), pa.int64())})
    )
    columns = [f.name for f in orders_table(planted=True).schema]
    checks = model_checks(tmp_path, ORDERS_CHECKS, columns)
    results = run_checks(
        session,
        orders,
        checks,
        dialect=engine.capabilities.dialect,
        resolve=resolver({"staging.customers": customers}),
        now=NOW,
    )
    failing = {r.name: r.failing_rows for r in results if r.status == "fail"}
    assert {k: v for k, v in failing.items() if k not in FAILING_WITHOUT_COUNT} == PLANTED
    assert set(failing) - set(PLANTED) == FAILING_WITHOUT_COUNT
    assert not [r for r in results if r.status == "error"]
    by_name = {r.name: r for r in results}
    duplicates = by_name["staging.orders.order_id.unique"].sample
    assert sorted((r["order_id"], r["rows"]) for r in duplicates) == [(1, 2), (2, 2), (3, 2)]


def test_a_clean_table_passes_every_check(engine: Engine, schema: str, tmp_path: Path) -> None:
    session = engine.session()
    orders, customers = f"{schema}.orders", f"{schema}.customers"
    session.create_table_from_arrow(orders, orders_table(planted=False))
    session.create_table_from_arrow(
        customers, pa.table({"customer_id": pa.array(range(50), pa.int64())})
    )
    checks = model_checks(tmp_path, ORDERS_CHECKS, [f.name for f in orders_table(False).schema])
    results = run_checks(
        session,
        orders,
        checks,
        dialect=engine.capabilities.dialect,
        resolve=resolver({"staging.customers": customers}),
        now=NOW,
    )
    assert {r.name: r.status for r in results if r.status != "pass"} == {}
