"""headgate:
materialized: table
depends_on: [marts.customer_lifetime_value]
unique_key: customer_id
tags: [marts, crm]
owner: analytics
description: RFM segments per customer who has ordered (recency, frequency, monetary value scored 1 to 5).
columns:
  customer_id:
    description: Primary key; every customer with at least one order.
  recency_days:
    description: Days between the customer's last order and the latest order in the shop; null when every order has a suspect date.
  rfm_score:
    description: The three scores as one code, e.g. '545'.
  segment:
    description: champions, loyal, new, potential, at_risk or hibernating.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SCORE_QUANTILES = [0.2, 0.4, 0.6, 0.8]


def model(ctx: Any) -> pa.Table:
    """Score every customer who ordered on recency, frequency and money, then name the segment.

    Scores come from quintile boundaries, not from ranks, so customers with equal values
    always get the same score whatever order the rows arrive in.
    """
    clv = ctx.ref("marts.customer_lifetime_value")
    if not isinstance(clv, pa.Table):  # a Spark DataFrame: one row per customer, scored here
        clv = clv.toArrow()
    clv = clv.filter(pc.greater(clv["orders"], 0))
    clv = clv.take(pc.sort_indices(clv, sort_keys=[("customer_id", "ascending")]))

    last_order = pc.cast(clv["last_order_at"], pa.timestamp("s"), safe=False)
    last = last_order.cast(pa.int64()).cast(pa.float64()).to_numpy()  # NaN where null
    as_of = np.nanmax(last) if np.isfinite(last).any() else np.nan
    recency = np.floor((as_of - last) / 86_400)
    frequency = clv["revenue_orders"].cast(pa.float64()).to_numpy()
    monetary = clv["lifetime_revenue_eur"].cast(pa.float64()).to_numpy()

    # Recent is good, so recency scores run the other way; no known recency scores 1.
    r_score = np.where(np.isnan(recency), 1, 6 - _quintile(recency))
    f_score = _quintile(frequency)
    m_score = _quintile(monetary)

    segment = np.select(
        [
            (r_score >= 4) & (f_score >= 4) & (m_score >= 4),
            (r_score >= 3) & (f_score >= 4),
            (r_score >= 4) & (f_score <= 2),
            (r_score <= 2) & (f_score >= 3),
            (r_score <= 2),
        ],
        ["champions", "loyal", "new", "at_risk", "hibernating"],
        default="potential",
    )
    rfm = [f"{r}{f}{m}" for r, f, m in zip(r_score, f_score, m_score, strict=True)]
    return pa.table(
        {
            "customer_id": clv["customer_id"],
            "recency_days": pa.array(
                np.nan_to_num(recency).astype(np.int64), pa.int64(), mask=np.isnan(recency)
            ),
            "frequency": pa.array(frequency, pa.int64()),
            "monetary_eur": pa.array(monetary, pa.float64()),
            "r_score": pa.array(r_score, pa.int8()),
            "f_score": pa.array(f_score, pa.int8()),
            "m_score": pa.array(m_score, pa.int8()),
            "rfm_score": pa.array(rfm, pa.string()),
            "segment": pa.array(segment.tolist(), pa.string()),
        }
    )


def _quintile(values: np.ndarray) -> np.ndarray:
    """Score 1 (lowest fifth) to 5 (highest fifth); NaN values score 1."""
    known = values[~np.isnan(values)]
    if known.size == 0:
        return np.ones(len(values), dtype=np.int64)
    edges = np.quantile(known, SCORE_QUANTILES)
    scores = 1 + np.searchsorted(edges, values, side="right")
    return np.where(np.isnan(values), 1, scores)
