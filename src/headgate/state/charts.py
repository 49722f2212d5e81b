"""The chart each monitor judges by when its config names none: picked once, then kept.

A monitor with no ``chart:`` has one picked from its metric's history once there is
enough of it (runtime/monitoring.py); keeping the pick means the chart does not change
from one run to the next. Keyed by model and the monitor's metric key.
"""

from __future__ import annotations

from sqlalchemy import select

from headgate.state.database import Database
from headgate.state.sqltypes import now
from headgate.state.tables import monitor_charts


def kept_chart(db: Database, model: str, key: str) -> str | None:
    """The chart kept for the monitor of ``model`` keyed ``key``, if one was."""
    where = (monitor_charts.c.model == model) & (monitor_charts.c.metric == key)
    with db.read() as conn:
        kept = conn.execute(select(monitor_charts.c.chart).where(where)).scalar_one_or_none()
    return None if kept is None else str(kept)


def keep_chart(db: Database, model: str, key: str, chart: str, reason: str) -> None:
    """Keep ``chart`` (and why it was picked) for the monitor of ``model`` keyed ``key``."""
    row = {"model": model, "metric": key, "chart": chart, "reason": reason, "chosen_at": now()}
    with db.write("remembering a monitor's chart") as conn:
        db.upsert(conn, monitor_charts, ["model", "metric"], [row])
