"""The shop whose daily batches ``suggestions.py`` replays: clean batches, and defects planted in one.

Three tables arrive as one CSV file each per day: customers (about 25 new a day),
orders (about 1,000 a day, with weekday swings) and payments (one per paid order). Day
``d`` covers the simulated day ``START + d``; its files land at 02:00 the next day,
give or take an hour. Everything is drawn from ``random.Random(seed + day)``, so a day's
batch is the same in every trial, and a defect changes only what it names.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

COUNTRIES = ["DE", "FR", "NL", "BE", "AT", "IT", "ES", "PL"]
STATUSES = ["placed", "shipped", "delivered", "returned", "cancelled"]
STATUS_WEIGHTS = [10, 25, 55, 6, 4]
METHODS = ["card", "paypal", "klarna", "bank_transfer"]
FIRST = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas"]
LAST = ["Meyer", "Dubois", "de Vries", "Rossi", "Garcia", "Nowak", "Peeters", "Huber"]
COLUMNS = {
    "customers": ["customer_id", "name", "email", "country", "signed_up_at"],
    "orders": ["order_id", "customer_id", "status", "amount", "currency", "ordered_at"],
    "payments": ["payment_id", "order_id", "method", "amount", "paid_at"],
}

Rows = dict[str, list[dict[str, Any]]]


@dataclass
class Shop:
    """What the generator remembers between days: the ids handed out so far."""

    seed: int
    start: datetime  # midnight UTC of day 0
    customers: int = 0
    orders: int = 0
    payments: int = 0
    order_amounts: dict[int, float] = field(default_factory=dict)

    def day_start(self, day: int) -> datetime:
        return self.start + timedelta(days=day)

    def lands_at(self, day: int) -> datetime:
        """When day ``day``'s files are loaded and checked: about 02:00 the next morning."""
        jitter = random.Random(self.seed * 7919 + day).uniform(-1.0, 1.0)
        return self.day_start(day + 1) + timedelta(hours=2 + jitter)

    def batch(self, day: int) -> Rows:
        """Day ``day``'s clean rows of every table."""
        rng = random.Random(self.seed * 1_000_003 + day)
        begin = self.day_start(day)
        weekday = 1.15 if begin.weekday() < 5 else 0.75
        rows: Rows = {"customers": [], "orders": [], "payments": []}
        for _ in range(rng.randint(18, 32)):
            self.customers += 1
            first, last = rng.choice(FIRST), rng.choice(LAST)
            rows["customers"].append(
                {
                    "customer_id": self.customers,
                    "name": f"{first} {last}",
                    "email": f"{first}.{last.replace(' ', '')}{self.customers}@example.com".lower(),
                    "country": rng.choice(COUNTRIES),
                    "signed_up_at": _moment(begin, rng),
                }
            )
        for _ in range(int(rng.gauss(1_000, 60) * weekday)):
            self.orders += 1
            amount = round(min(900.0, rng.lognormvariate(3.6, 0.6)), 2)
            status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
            ordered = _moment(begin, rng)
            rows["orders"].append(
                {
                    "order_id": self.orders,
                    "customer_id": rng.randint(1, self.customers),
                    "status": status,
                    "amount": amount,
                    "currency": "EUR",
                    "ordered_at": ordered,
                }
            )
            self.order_amounts[self.orders] = amount
            if status != "cancelled":
                self.payments += 1
                rows["payments"].append(
                    {
                        "payment_id": self.payments,
                        "order_id": self.orders,
                        "method": rng.choice(METHODS),
                        "amount": amount,
                        "paid_at": ordered + timedelta(minutes=rng.randint(0, 30)),
                    }
                )
        for table in rows.values():
            table.sort(key=lambda row: str(row.get("ordered_at") or row.get("paid_at") or ""))
        return rows


def _moment(day: datetime, rng: random.Random) -> datetime:
    seconds = int(min(86_399, max(0, rng.gauss(50_000, 16_000))))
    return (day + timedelta(seconds=seconds)).replace(tzinfo=None)


def write_batch(
    root: Path, day: int, rows: Rows, columns: dict[str, list[str]] | None = None
) -> None:
    for table, records in rows.items():
        names = (columns or {}).get(table, COLUMNS[table])
        path = root / "data" / f"{table}_{day:03d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=names, extrasaction="ignore")
            writer.writeheader()
            for record in records:
                writer.writerow({k: _text(v) for k, v in record.items()})


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return "" if value is None else str(value)


# --- defects: each changes one day's rows (and may change the files' columns) -------------


@dataclass(frozen=True)
class Defect:
    kind: str
    what: str
    plant: Callable[[Rows, random.Random, Shop, int], dict[str, list[str]] | None]


def _some(records: list[dict[str, Any]], share: float, rng: random.Random) -> list[dict[str, Any]]:
    return rng.sample(records, max(1, int(len(records) * share)))


def _nulls(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["orders"], 0.03, rng):
        row["customer_id"] = None


def _duplicates(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    rows["orders"] += [dict(row) for row in _some(rows["orders"], 0.02, rng)]


def _out_of_range(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["orders"], 0.01, rng):
        row["amount"] = -row["amount"]


def _unknown_codes(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["customers"], 0.1, rng):
        row["country"] = "XX"


def _orphans(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["orders"], 0.01, rng):
        row["customer_id"] = shop.customers + 10_000 + rng.randint(1, 999)


def _future(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["orders"], 0.005, rng):  # a year typed as 2 digits too many
        row["ordered_at"] = row["ordered_at"].replace(year=row["ordered_at"].year + 10)


def _malformed(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["customers"], 0.1, rng):
        row["email"] = row["email"].replace("@", " at ")


def _overlong(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["customers"], 0.05, rng):  # a free-text field pasted into the name
        row["name"] = (row["name"] + " - please call back after 6pm, ") * 8


def _collapse(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    kept = sorted(_some(rows["orders"], 0.19, rng), key=lambda row: row["ordered_at"])
    ids = {row["order_id"] for row in kept}  # 81% of the batch missing, over the whole day
    rows["orders"] = kept
    rows["payments"] = [row for row in rows["payments"] if row["order_id"] in ids]


def _stale(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for table, column in (("orders", "ordered_at"), ("payments", "paid_at")):
        for row in rows[table]:  # the extract's window stuck three days back
            row[column] -= timedelta(days=3)


def _schema_drift(rows: Rows, rng: random.Random, shop: Shop, day: int) -> dict[str, list[str]]:
    for row in rows["orders"]:
        row["channel"] = rng.choice(["web", "app"])
    return {"orders": [*COLUMNS["orders"][:3], "channel", *COLUMNS["orders"][3:]]}


def _unparseable(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["orders"], 0.02, rng):
        row["amount"] = f"{row['amount']:.2f} EUR".replace(".", ",")


def _mean_shift(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for table in ("orders", "payments"):  # prices sent in another currency's units
        for row in rows[table]:
            row["amount"] = round(row["amount"] * 1.3, 2)


def _mismatch(rows: Rows, rng: random.Random, shop: Shop, day: int) -> None:
    for row in _some(rows["payments"], 0.03, rng):  # a payment booked for the wrong amount
        row["amount"] = round(row["amount"] * rng.choice([0.5, 2.0]), 2)


DEFECTS = [
    Defect("nulls", "3% of the day's orders lose their customer_id", _nulls),
    Defect("duplicates", "2% of the day's orders sent twice", _duplicates),
    Defect("out-of-range values", "1% of order amounts negative", _out_of_range),
    Defect("unknown codes", "10% of new customers with country 'XX'", _unknown_codes),
    Defect("orphan keys", "1% of orders for customers that do not exist", _orphans),
    Defect("future dates", "0.5% of orders dated ten years ahead", _future),
    Defect("malformed strings", "10% of new customers' emails without '@'", _malformed),
    Defect("over-long strings", "5% of new customers' names with 300+ characters", _overlong),
    Defect("volume collapse", "the orders batch 81% short", _collapse),
    Defect("stale data", "orders and payments of three days earlier", _stale),
    Defect("schema drift", "the orders file gains a column", _schema_drift),
    Defect("unparseable rows", "2% of order amounts written '41,20 EUR'", _unparseable),
    Defect("mean shift", "every amount 30% higher", _mean_shift),
    Defect(
        "cross-table mismatch", "3% of payments halve or double their order's amount", _mismatch
    ),
]


def start_for(days: int, now: datetime | None = None) -> datetime:
    """Day 0 such that every simulated day (and its landing) lies before today."""
    today = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days + 3)
