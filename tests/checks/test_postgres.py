"""The same checks, generated for PostgreSQL and run on a real server: the SQL is portable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from headgate.checks.compiler import fused_scan
from headgate.checks.runner import run_checks
from headgate.engines.base import EngineSession, quote
from headgate.errors import EngineError
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
from tests.conftest import import_or_require, libpq_url

psycopg = import_or_require("psycopg", "the checks run on a real PostgreSQL")

pytestmark = pytest.mark.services

PG_TYPES = {
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.timestamp("us"): "timestamp",
}


class PsycopgSession(EngineSession):
    """The engine interface over one autocommit psycopg connection (enough for checks)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall()) if cursor.description else []
        except psycopg.Error as exc:
            raise EngineError(str(exc).strip()) from exc

    def arrow(self, sql: str) -> pa.Table:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql)
                names = [column.name for column in cursor.description]
                rows = cursor.fetchall()
        except psycopg.Error as exc:
            raise EngineError(str(exc).strip()) from exc
        if not rows:
            return pa.table({name: pa.array([], pa.null()) for name in names})
        return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows])

    def create_table_from_arrow(self, target: str, data: pa.Table) -> int:
        columns = ", ".join(f"{quote(f.name)} {PG_TYPES[f.type]}" for f in data.schema)
        self.execute(f"CREATE TABLE {quote(target)} ({columns})")
        marks = ", ".join(["%s"] * data.num_columns)
        rows = [tuple(row.values()) for row in data.to_pylist()]
        with self.connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {quote(target)} VALUES ({marks})", rows)
        return data.num_rows


def test_fused_scan_and_every_check_type_run_on_postgres(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {quote(pg_schema)}")
        plain = PsycopgSession(connection)
        orders, customers = f"{pg_schema}.orders", f"{pg_schema}.customers"
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
