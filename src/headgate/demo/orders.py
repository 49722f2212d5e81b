"""Orders, order lines and payments for the demo shop, with their planted defects.

Two years of orders (2024-11-01 to 2026-10-31) grow over time, peak in November and
December and on weekends, and belong to customers who had signed up by then. Every
array is drawn from the seeded generator in a fixed order and kept in numpy, so a
120,000-order history takes a fraction of a second and one seed gives one history.

The defects are planted on disjoint sets of rows, so the count each one reports is
exactly what a query on the raw file finds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headgate.demo.catalog import (
    UNITS_PER_EUR,
    WINDOW_END,
    WINDOW_START,
    Customers,
    Products,
    scaled,
)
from headgate.demo.summary import DemoDefect

STATUSES = ("placed", "shipped", "delivered", "returned", "cancelled")
PLACED, SHIPPED, DELIVERED, RETURNED, CANCELLED = range(5)
# Status mix by order age: under 2 days, under 8 days, older.
STATUS_MIX = np.array(
    [
        [0.70, 0.22, 0.00, 0.00, 0.08],
        [0.05, 0.55, 0.33, 0.01, 0.06],
        [0.00, 0.01, 0.85, 0.08, 0.06],
    ]
)
# A re-sent order row carries the status the order had reached by the second export.
NEXT_STATUS = np.array([SHIPPED, DELIVERED, DELIVERED, RETURNED, CANCELLED])
CHANNELS = (("web", 0.55), ("app", 0.35), ("marketplace", 0.08), ("phone", 0.02))
METHODS = (("card", 0.55), ("paypal", 0.25), ("klarna", 0.12), ("bank_transfer", 0.08))
DISCOUNTS = ((0.0, 0.70), (0.05, 0.08), (0.10, 0.10), (0.15, 0.05), (0.20, 0.05), (0.25, 0.02))
# Monday first.
WEEKDAY_WEIGHT = np.array([0.95, 0.92, 0.95, 1.0, 1.08, 1.22, 1.18])
# January first; the holiday season sells most.
MONTH_WEIGHT = np.array([0.85, 0.9, 0.95, 1.0, 1.0, 0.95, 0.9, 0.92, 1.0, 1.05, 1.3, 1.55])
HOUR_WEIGHT = np.array(
    [2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 9, 10, 9, 8, 8, 8, 9, 11, 13, 13, 11, 7, 4], dtype=float
)
FUTURE_YEAR_START = np.datetime64("2031-01-01T00:00:00", "s")
FIRST_ORDER_ID = 100_001
DAY = 86_400


@dataclass
class OrderRows:
    """Rows of orders.parquet; duplicates are appended after the first copy of each order."""

    id: np.ndarray  # int64
    customer_id: np.ndarray  # int64; meaningless where customer_missing is set
    customer_missing: np.ndarray  # bool
    ordered_at_us: np.ndarray  # int64 microseconds since 1970
    status: list[str]
    channel: list[str]
    currency: list[str]


@dataclass
class ItemRows:
    """Rows of order_items.parquet, one per order line."""

    order_id: np.ndarray
    line: np.ndarray
    product_id: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray
    discount: np.ndarray


@dataclass
class PaymentRows:
    """Rows of payments.ndjson; split payments sit next to each other."""

    id: np.ndarray
    order_id: np.ndarray
    method: list[str]
    amount: np.ndarray  # float64, whole cents
    paid_at_s: np.ndarray  # int64 seconds since 1970


@dataclass
class OrderData:
    """Everything generated on the orders side, and the defects planted in it."""

    orders: OrderRows
    items: ItemRows
    payments: PaymentRows
    defects: list[DemoDefect]


def make_orders(
    rng: np.random.Generator, n: int, customers: Customers, products: Products, scale: float
) -> OrderData:
    """Generate ``n`` orders with their lines and payments, then plant the defects."""
    start = int(WINDOW_START.astype(np.int64))
    end = int(WINDOW_END.astype(np.int64))
    ordered = np.sort(_order_times(rng, n, start, end))

    # Customers who signed up earlier have had longer to come back; some simply buy more.
    propensity = np.cumsum(rng.lognormal(0.0, 1.0, len(customers.ids)))
    eligible = np.maximum(np.searchsorted(customers.signup_seconds, ordered, side="right"), 1)
    pick = np.searchsorted(propensity, rng.random(n) * propensity[eligible - 1], side="right")
    pick = np.minimum(pick, eligible - 1)
    customer_id = customers.ids[pick]
    currency = np.array(customers.currencies, dtype=object)[pick]

    age_bucket = np.digitize((end - ordered) / DAY, [2.0, 8.0])
    cumulative = np.cumsum(STATUS_MIX, axis=1)[age_bucket]
    status_idx = np.minimum((rng.random(n)[:, None] > cumulative).sum(axis=1), CANCELLED)
    channel = rng.choice(np.array([c for c, _ in CHANNELS], dtype=object), n, p=_p(CHANNELS))

    items, totals, bad_line_orders, n_bad_qty = _items(rng, n, currency, products, scale)

    counts = {
        "null": scaled(80, scale, 4),
        "orphan": scaled(120, scale, 5),
        "future": scaled(40, scale, 3),
        "epoch": scaled(8, scale, 2),
        "mixed": scaled(200, scale, 6),
        "placeholder": scaled(60, scale, 4),
    }
    chosen: dict[str, np.ndarray] = {}
    perm = rng.permutation(n)
    at = 0
    for name, k in counts.items():
        chosen[name] = perm[at : at + k]
        at += k
    n_dup = scaled(150, scale, 5)
    dup_src = np.sort(perm[at : at + n_dup])

    payments, n_mismatch = _payments(
        rng, FIRST_ORDER_ID + np.arange(n), ordered, status_idx, totals, bad_line_orders, scale
    )

    customer_missing = np.zeros(n, dtype=bool)
    customer_missing[chosen["null"]] = True
    customer_id[chosen["orphan"]] = rng.choice(customers.deleted_ids, counts["orphan"])
    shown_at = ordered.copy()
    shown_at[chosen["future"]] = int(FUTURE_YEAR_START.astype(np.int64)) + rng.integers(
        0, 365 * DAY, counts["future"]
    )
    shown_at[chosen["epoch"]] = 0
    status = [STATUSES[s] for s in status_idx]
    for i in chosen["mixed"]:
        status[i] = status[i].upper() if rng.random() < 0.5 else status[i].capitalize()
    for i in chosen["placeholder"]:
        status[i] = "N/A"

    order_id = FIRST_ORDER_ID + np.arange(n, dtype=np.int64)
    channels, currencies = list(channel), list(currency)
    orders = OrderRows(
        id=np.concatenate([order_id, order_id[dup_src]]),
        customer_id=np.concatenate([customer_id, customer_id[dup_src]]),
        customer_missing=np.concatenate([customer_missing, customer_missing[dup_src]]),
        ordered_at_us=np.concatenate([shown_at, shown_at[dup_src]]) * 1_000_000,
        status=status + [STATUSES[s] for s in NEXT_STATUS[status_idx[dup_src]]],
        channel=channels + [channels[i] for i in dup_src],
        currency=currencies + [currencies[i] for i in dup_src],
    )
    defects = [
        DemoDefect("shop.orders", "id", "duplicate_key", n_dup,
                   "Order ids exported twice; a second copy may carry the order's newer status."),
        DemoDefect("shop.orders", "customer_id", "null", counts["null"],
                   "Orders without a customer_id (guest checkouts the export lost)."),
        DemoDefect("shop.orders", "customer_id", "orphan_reference", counts["orphan"],
                   "Orders whose customer_id is not in customers (the customer was deleted)."),
        DemoDefect("shop.orders", "ordered_at", "future_date", counts["future"],
                   "Orders dated in 2031 (a mistyped year in a back-office correction)."),
        DemoDefect("shop.orders", "ordered_at", "epoch_date", counts["epoch"],
                   "Orders dated 1970-01-01 00:00:00 (a zero timestamp from a failed import)."),
        DemoDefect("shop.orders", "status", "mixed_case", counts["mixed"],
                   "Status written as 'Shipped' or 'SHIPPED' instead of 'shipped'."),
        DemoDefect("shop.orders", "status", "placeholder", counts["placeholder"],
                   "Status 'N/A' where the real status is unknown."),
        DemoDefect("shop.order_items", "quantity", "negative_amount", n_bad_qty,
                   "Order lines with a zero or negative quantity (returns keyed in as lines)."),
        DemoDefect("shop.payments", "amount", "amount_mismatch", n_mismatch,
                   "Payments that differ from the order's item total by a fee or a voucher."),
    ]  # fmt: skip
    return OrderData(orders=orders, items=items, payments=payments, defects=defects)


def _order_times(rng: np.random.Generator, n: int, start: int, end: int) -> np.ndarray:
    """Order timestamps in seconds: growing over the window, weekly and yearly seasons."""
    n_days = (end - start) // DAY
    dates = WINDOW_START.astype("datetime64[D]") + np.arange(n_days)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    month = dates.astype("datetime64[M]").astype(np.int64) % 12
    weight = (1.0 + 0.7 * np.arange(n_days) / n_days) * WEEKDAY_WEIGHT[weekday]
    weight *= MONTH_WEIGHT[month]
    day = rng.choice(n_days, n, p=weight / weight.sum())
    hour = rng.choice(24, n, p=HOUR_WEIGHT / HOUR_WEIGHT.sum())
    return start + day * DAY + hour * 3600 + rng.integers(0, 3600, n)


def _items(
    rng: np.random.Generator, n: int, currency: np.ndarray, products: Products, scale: float
) -> tuple[ItemRows, np.ndarray, np.ndarray, int]:
    """Order lines (about 2.5 per order), each order's total, and the orders with bad lines."""
    lines = np.clip(1 + rng.poisson(1.5, n), 1, 8)
    total_lines = int(lines.sum())
    owner = np.repeat(np.arange(n), lines)
    line_no = np.arange(total_lines) - np.repeat(np.cumsum(lines) - lines, lines) + 1
    product = rng.choice(len(products.ids), total_lines, p=products.popularity)
    quantity = np.minimum(1 + rng.poisson(0.3, total_lines), 6).astype(np.int32)
    rate = np.array([UNITS_PER_EUR[c] for c in currency])[owner]
    unit_price = np.round(products.price_eur[product] * rate, 2)
    discount = rng.choice(np.array([d for d, _ in DISCOUNTS]), total_lines, p=_p(DISCOUNTS))

    n_bad = scaled(180, scale, 5)
    bad = rng.choice(total_lines, n_bad, replace=False)
    quantity[bad] = rng.choice(np.array([0, -1, -1, -2], dtype=np.int32), n_bad)
    amount = quantity * unit_price * (1.0 - discount)
    totals = np.round(np.bincount(owner, weights=amount, minlength=n), 2)
    bad_orders = np.zeros(n, dtype=bool)
    bad_orders[owner[bad]] = True
    rows = ItemRows(
        order_id=FIRST_ORDER_ID + owner.astype(np.int64),
        line=line_no.astype(np.int32),
        product_id=products.ids[product],
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
    )
    return rows, totals, bad_orders, n_bad


def _payments(
    rng: np.random.Generator,
    order_id: np.ndarray,
    ordered: np.ndarray,
    status_idx: np.ndarray,
    totals: np.ndarray,
    bad_line_orders: np.ndarray,
    scale: float,
) -> tuple[PaymentRows, int]:
    """Payments for every order that was charged; about 7% split with a gift card.

    Payment times come from the payment provider, so they follow the true order time even
    where the order row's timestamp is wrong. Cancelled orders and orders whose lines sum
    to nothing positive were never charged.
    """
    n = len(order_id)
    paid = (status_idx != CANCELLED) & (totals > 0)
    split = paid & (rng.random(n) < 0.07)
    fraction = rng.uniform(0.2, 0.8, n)
    method = rng.choice(np.array([m for m, _ in METHODS], dtype=object), n, p=_p(METHODS))
    delay = rng.exponential(300.0, n).astype(np.int64)
    delay = np.where(method == "bank_transfer", rng.integers(DAY, 3 * DAY, n), delay)

    amount = totals.copy()
    n_mismatch = scaled(100, scale, 4)
    candidates = np.flatnonzero(paid & ~split & ~bad_line_orders & (totals >= 10.0))
    wrong = rng.choice(candidates, n_mismatch, replace=False)
    amount[wrong] = np.round(totals[wrong] + rng.choice([4.95, -5.0, 9.9], n_mismatch), 2)

    gift = np.round(totals * fraction, 2)
    first = np.flatnonzero(paid)
    second = np.flatnonzero(split)
    # Split orders: the gift card first, the rest with the customer's usual method.
    rows_order = np.concatenate([first, second])
    rows_seq = np.concatenate([np.zeros(len(first), np.int8), np.ones(len(second), np.int8)])
    is_split = split[first]
    rows_amount = np.concatenate(
        [np.where(is_split, gift[first], amount[first]), np.round(totals[second] - gift[second], 2)]
    )
    rows_method = np.concatenate([np.where(is_split, "gift_card", method[first]), method[second]])
    rows_paid = np.concatenate(
        [
            ordered[first] + np.where(is_split, 20, delay[first]),
            ordered[second] + 20 + delay[second],
        ]
    )
    sort = np.lexsort((rows_seq, rows_order))
    return (
        PaymentRows(
            id=np.arange(1, len(sort) + 1, dtype=np.int64),
            order_id=order_id[rows_order[sort]].astype(np.int64),
            method=[str(m) for m in rows_method[sort]],
            amount=rows_amount[sort],
            paid_at_s=rows_paid[sort].astype(np.int64),
        ),
        n_mismatch,
    )


def _p(weighted: tuple[tuple[object, float], ...]) -> np.ndarray:
    """The probabilities of a (value, weight) table, normalised to sum to one."""
    weights = np.array([w for _, w in weighted], dtype=float)
    return weights / weights.sum()
