"""The same checks, generated for PostgreSQL and run on a real server: the SQL is portable."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from headgate.checks.compiler import fused_scan
from headgate.checks.runner import run_checks
from headgate.engines.base import Engine
from tests.checks.support import (
    FAILING_WITHOUT_COUNT,
    NOW,
    ORDERS_CHECKS,
    PLANTED,
    CountingSession,
    model_checks,
    orders_table,
    resolver,
)
from tests.conftest import import_or_require

psycopg = import_or_require("psycopg", "the checks run on a real PostgreSQL")

pytestmark = pytest.mark.services


def test_fused_scan_and_every_check_type_run_on_postgres(
    postgres_engine: Engine, pg_prefix: str, tmp_path: Path
) -> None:
    """Through the PostgreSQL engine's own session, as a run audits a table it built."""
    schema = pg_prefix + "checks"
    postgres_engine.ensure_schema(schema)
    plain = postgres_engine.session()
    orders, customers = f"{schema}.orders", f"{schema}.customers"
    plain.create_table_from_arrow(orders, orders_table(planted=True))
    plain.create_table_from_arrow(
        customers, pa.table({"customer_id": pa.array(range(50), pa.int64())})
    )
    columns = [f.name for f in orders_table(planted=True).schema]
    checks = model_checks(tmp_path, ORDERS_CHECKS, columns)

    fused = fused_scan(orders, checks, "postgres")
    assert fused.sql is not None and "REGEXP_MATCHES" not in fused.sql
    assert '"email" ~ ' in fused.sql  # PostgreSQL's regex operator
    (row,) = plain.arrow(fused.sql).to_pylist()
    values = dict(zip([s.check.name for s in fused.slots], fused.values(row), strict=True))
    assert values["staging.orders.email.not_null"] == {"failing": 10, "total": 1000}
    assert values["staging.orders.amount.range"]["failing"] == 10

    session = CountingSession(plain)
    results = run_checks(
        session,
        orders,
        checks,
        dialect="postgres",
        resolve=resolver({"staging.customers": customers}),
        now=NOW,
    )
    scan = sqlglot.parse_one(session.queries[0], read="postgres")
    assert [t.name for t in scan.find_all(exp.Table)] == ["orders"]
    failing = {r.name: r.failing_rows for r in results if r.status == "fail"}
    assert {k: v for k, v in failing.items() if k not in FAILING_WITHOUT_COUNT} == PLANTED
    assert set(failing) - set(PLANTED) == FAILING_WITHOUT_COUNT
    assert {r.status for r in results} == {"pass", "fail"}
    by_name = {r.name: r for r in results}
    assert by_name["staging.orders.contract"].sample == [
        {"column": "note", "change": "added", "contract": None, "actual": "text"}
    ]
    duplicates = by_name["staging.orders.order_id.unique"].sample
    assert sorted((r["order_id"], r["rows"]) for r in duplicates) == [(1, 2), (2, 2), (3, 2)]
    assert len(by_name["staging.orders.customer_id.relationships"].sample) == 20
