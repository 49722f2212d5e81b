"""Test data and helpers of the deliveries tests: the models' rows, declaring a delivery file."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from headgate.deliveries.config import Delivery, load_delivery

ENVIRONMENT = "dev-alice"
START = date(2024, 3, 1)
DAYS = 14
MONTHS = 30
NOW = datetime(2024, 3, 15, 9, 30).astimezone()


def revenue(day: int) -> Decimal:
    """The dev environment's revenue on day ``day`` (0-based) of the daily_revenue model."""
    return Decimal(100) + 10 * day + Decimal("0.50")


def daily_revenue() -> pa.Table:
    return pa.table(
        {
            "order_date": pa.array([START + timedelta(days=i) for i in range(DAYS)], pa.date32()),
            "revenue_eur": pa.array([revenue(i) for i in range(DAYS)], pa.decimal128(12, 2)),
            "orders": pa.array([3 + i % 4 for i in range(DAYS)], pa.int64()),
        }
    )


def old_daily_revenue() -> pa.Table:
    """What prod publishes: a value no dev report may show."""
    return pa.table(
        {
            "order_date": pa.array([START], pa.date32()),
            "revenue_eur": pa.array([Decimal("999999.99")], pa.decimal128(12, 2)),
            "orders": pa.array([1], pa.int64()),
        }
    )


def monthly_kpis() -> pa.Table:
    months = [f"{2022 + i // 12}-{i % 12 + 1:02d}" for i in range(MONTHS)]
    return pa.table(
        {
            "month": months,
            "customers": pa.array([40 + i for i in range(MONTHS)], pa.int64()),
            "revenue": pa.array([1000.0 + 25.5 * i for i in range(MONTHS)], pa.float64()),
        }
    )


def customer_segments() -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "segment": ['loyal, "gold"', "new", "lapsed", "new", None],
            "lifetime_value": pa.array(
                [Decimal("1520.75"), Decimal("20.00"), Decimal("0.00"), Decimal("35.10"), None],
                pa.decimal128(12, 2),
            ),
            "first_order": pa.array(
                [datetime(2023, 1, 5, 10, 0), datetime(2024, 2, 1, 8, 30)] + [None] * 3,
                pa.timestamp("us"),
            ),
            "active": [True, True, False, True, None],
        }
    )


PHYSICAL = {
    "marts.daily_revenue": ("headgate_physical.marts__daily_revenue__d1", daily_revenue),
    "marts.monthly_kpis": ("headgate_physical.marts__monthly_kpis__k1", monthly_kpis),
    "marts.customer_segments": (
        "headgate_physical.marts__customer_segments__s1",
        customer_segments,
    ),
    "marts.customer_tags": (
        "headgate_physical.marts__customer_tags__t1",
        lambda: pa.table({"customer_id": [1, 2], "tags": [["a", "b"], ["c"]]}),
    ),
}


@dataclass(frozen=True)
class Warehouse:
    root: Path
    path: Path
    views: dict[str, str]  # model -> the dev-alice view reading it

    def resolve(self, model: str) -> str:
        return self.views[model]  # KeyError: not a published model


def declare(root: Path, name: str, text: str) -> Delivery:
    """Write ``deliveries/<name>.yml`` and load it as the project loader does."""
    path = root / "deliveries" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_delivery(path, root)
