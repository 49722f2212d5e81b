"""Test data and helpers for the checks tests: an orders table, clean and with planted problems.

The planted problems are chosen so each check's failing-row count is known exactly
(``PLANTED``); the clean table passes every check of ``ORDERS_CHECKS``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from headgate.checks.parse import parse_model_checks
from headgate.checks.spec import Check
from headgate.engines.base import EngineSession
from headgate.project.models import parse_model_file

NOW = datetime.now(UTC).replace(microsecond=0)
ROWS = 1000

# The model's checks as a user writes them (header block of models/staging/orders.sql).
ORDERS_CHECKS = r"""
columns:
  row_id:
    checks: [not_null, unique]
  order_id:
    checks: [not_null, unique]
  customer_id:
    checks:
      - relationships: {to: staging.customers, column: customer_id}
  status:
    checks:
      - accepted_values: {values: [placed, shipped, returned]}
  amount:
    checks:
      - range: {min: 0, max: 49}
  email:
    checks:
      - not_null
      - regex: {pattern: '^[^@\s]+@[^@\s]+$'}
      - length: {min: 3, max: 254}
  ordered_at:
    checks:
      - freshness: {max_age: 2 days}
checks:
  - row_count: {min: 1, max: 1000}
  - unique_combination: {columns: [order_id, line]}
  - expression: {sql: "amount >= discount"}
  - contract:
      columns:
        row_id: bigint
        order_id: int8
        line: integer
        customer_id: bigint
        status: text
        amount: float8
        discount: double
        email: varchar
        ordered_at: timestamp
"""

# What each check finds in the planted table (failing rows), by check name.
PLANTED = {
    "staging.orders.order_id.unique": 6,  # ids 1, 2 and 3 appear twice
    "staging.orders.customer_id.relationships": 160,  # customer ids 50..59 do not exist
    "staging.orders.status.accepted_values": 25,  # 'lost' (3 NULL statuses do not count)
    "staging.orders.amount.range": 10,  # -5.0 (8 NULL amounts do not count)
    "staging.orders.email.not_null": 10,
    "staging.orders.email.regex": 10,  # 6 'bad-email' and 4 'x'
    "staging.orders.email.length": 4,  # 'x'
    "staging.orders.unique_combination": 4,  # (1, 1) and (2, 1) twice each
    "staging.orders.expression": 5,  # discount 1000 on amount 1
}
FAILING_WITHOUT_COUNT = {"staging.orders.ordered_at.freshness", "staging.orders.contract"}


def order_rows(planted: bool) -> list[dict[str, Any]]:
    """1,000 orders; with ``planted``, the problems listed in ``PLANTED``."""
    rows: list[dict[str, Any]] = []
    base = NOW.replace(tzinfo=None) - (timedelta(days=3) if planted else timedelta(0))
    for i in range(1, ROWS + 1):
        if not planted:
            price = float(i % 50)
            rows.append(
                {
                    "row_id": i,
                    "order_id": i,
                    "line": 1,
                    "customer_id": i % 50,
                    "status": "shipped" if i % 2 == 0 else "placed",
                    "amount": price,
                    "discount": price / 10,
                    "email": f"user{i}@example.com",
                    "ordered_at": base - timedelta(hours=i),
                }
            )
            continue
        amount: float | None = None if i % 125 == 3 else (-5.0 if i % 100 == 0 else float(i % 50))
        email = None if i % 100 == 50 else f"user{i}@example.com"
        if email and i % 125 == 0:
            email = "bad-email"
        elif email and i % 300 == 7:
            email = "x"
        rows.append(
            {
                "row_id": i,
                "order_id": i if i <= 997 else i - 997,
                "line": 2 if i == 1000 else 1,
                "customer_id": None if i % 250 == 0 else i % 60,
                "status": None
                if i % 333 == 0
                else "lost"
                if i % 40 == 0
                else "shipped"
                if i % 2 == 0
                else "placed",
                "amount": amount,
                "discount": 1000.0 if i % 200 == 1 else _discount(amount),
                "email": email,
                "ordered_at": base - timedelta(hours=i),
                "note": "planted",
            }
        )
    return rows


def _discount(amount: float | None) -> float:
    """A tenth of a positive amount; the amount itself otherwise (so only planted rows fail)."""
    if amount is None:
        return 0.0
    return amount / 10 if amount > 0 else amount


SCHEMA = pa.schema(
    [
        ("row_id", pa.int64()),
        ("order_id", pa.int64()),
        ("line", pa.int32()),
        ("customer_id", pa.int64()),
        ("status", pa.string()),
        ("amount", pa.float64()),
        ("discount", pa.float64()),
        ("email", pa.string()),
        ("ordered_at", pa.timestamp("us")),
    ]
)


def orders_table(planted: bool) -> pa.Table:
    schema = SCHEMA.append(pa.field("note", pa.string())) if planted else SCHEMA
    return pa.Table.from_pylist(order_rows(planted), schema=schema)


class CountingSession(EngineSession):
    """A session that records every query it is asked to run (to prove "one scan")."""

    def __init__(self, inner: EngineSession) -> None:
        self.inner = inner
        self.queries: list[str] = []

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        self.queries.append(sql)
        return self.inner.execute(sql)

    def arrow(self, sql: str) -> pa.Table:
        self.queries.append(sql)
        return self.inner.arrow(sql)

    def create_table_from_arrow(self, target: str, data: pa.Table) -> int:
        return self.inner.create_table_from_arrow(target, data)

    @contextmanager
    def dense_keys(self, bits: int) -> Iterator[bool]:
        with self.inner.dense_keys(bits) as applied:
            yield applied


def columns_of(session: EngineSession, table: str) -> list[str]:
    """The table's columns (read past the query counter: this is the test's query)."""
    inner = session.inner if isinstance(session, CountingSession) else session
    return [str(row[0]) for row in inner.execute(f"DESCRIBE {table}")]


def model_checks(
    root: Path,
    options: str,
    columns: list[str] | None = None,
    *,
    name: str = "staging/orders",
    sidecar: bool = False,
) -> list[Check]:
    """Write a model with ``options`` (header block or sidecar) and parse its checks."""
    relative = Path("models") / f"{name}.sql"
    options = textwrap.dedent(options).strip("\n") + "\n"
    sql = f"/* headgate:\n{options}*/\nselect * from raw.orders\n"
    if sidecar:
        sql = "select * from raw.orders\n"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative.with_suffix(".yml")).write_text(options)
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)
    model = parse_model_file(root, relative, sql, options if sidecar else None)
    return parse_model_checks(model, root, columns)


def resolver(mapping: dict[str, str]) -> Any:
    """``resolve`` for run_checks: a model name to its table; unknown names fail loudly."""

    def resolve(name: str) -> str:
        return mapping[name]

    return resolve


CUSTOMERS = {"staging.customers": "hp.customers"}
