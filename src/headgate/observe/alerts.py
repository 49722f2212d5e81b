"""Alerts: a problem with a component, open until it recovers, grouped under its root cause.

An alert is keyed by its component and kind (``failed``, ``late_start``, ...) or, for an
alert a rule raised, by the rule. While it is open, the same problem again only counts
(``occurrences``). A new alert whose component is downstream (in any journey) of a
component with an open alert of the same family is grouped under that one (``root_id``):
one alert per root cause. Resolving the root resolves what it grouped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from headgate.observe.ingest import database
from headgate.state import tables as t

FAILURE_KINDS = ("failed", "checks_failed", "missing_run", "dataset_not_ready", "delivery_failed")


@dataclass
class AlertRecord:
    id: int
    component: str
    kind: str
    level: str
    status: str
    message: str
    occurrences: int
    opened_at: datetime
    last_at: datetime
    root_id: int | None = None
    rule: str | None = None
    run_key: str | None = None
    resolved_at: datetime | None = None


@dataclass
class AlertChange:
    alert: AlertRecord
    change: str  # opened | repeated | resolved


def _record(row: Any) -> AlertRecord:
    return AlertRecord(
        id=row.id,
        component=row.component,
        kind=row.kind,
        level=row.level,
        status=row.status,
        message=row.message,
        occurrences=row.occurrences,
        opened_at=row.opened_at,
        last_at=row.last_at,
        root_id=row.root_id,
        rule=row.rule,
        run_key=row.run_key,
        resolved_at=row.resolved_at,
    )


def _open(conn: Connection, component: str, kind: str, rule: str | None) -> Any:
    query = select(t.alerts).where(
        t.alerts.c.component == component, t.alerts.c.kind == kind, t.alerts.c.status == "open"
    )
    query = query.where(t.alerts.c.rule == rule if rule else t.alerts.c.rule.is_(None))
    return conn.execute(query.order_by(t.alerts.c.id.desc())).first()


def _upstream_closure(component: str, upstream: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(upstream.get(component, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(upstream.get(node, ()))
    return seen


def _root(
    conn: Connection, component: str, rule: str | None, upstream: dict[str, set[str]]
) -> int | None:
    """The open alert upstream of ``component`` this one is caused by (the oldest root)."""
    above = _upstream_closure(component, upstream)
    if not above:
        return None
    query = select(t.alerts).where(
        t.alerts.c.status == "open", t.alerts.c.component.in_(sorted(above))
    )
    if rule:
        query = query.where(t.alerts.c.rule == rule)
    else:
        query = query.where(t.alerts.c.rule.is_(None), t.alerts.c.kind.in_(FAILURE_KINDS))
    found = conn.execute(query.order_by(t.alerts.c.id)).first()
    if found is None:
        return None
    return int(found.root_id or found.id)


def raise_alert(
    store: Any,
    *,
    component: str,
    kind: str,
    message: str,
    at: datetime,
    upstream: dict[str, set[str]],
    level: str = "error",
    rule: str | None = None,
    run_key: str | None = None,
) -> AlertChange:
    """Open an alert, or count one more occurrence of the one already open."""
    db = database(store)
    with db.write("raising an alert") as conn:
        row = _open(conn, component, kind, rule)
        if row is not None:
            conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == row.id)
                .values(
                    occurrences=row.occurrences + 1,
                    last_at=max(at, row.last_at),
                    message=message,
                    run_key=run_key or row.run_key,
                )
            )
            fresh = conn.execute(select(t.alerts).where(t.alerts.c.id == row.id)).one()
            return AlertChange(_record(fresh), "repeated")
        root = _root(conn, component, rule, upstream)
        result = conn.execute(
            t.alerts.insert().values(
                component=component,
                kind=kind,
                level=level,
                status="open",
                root_id=root,
                rule=rule,
                run_key=run_key,
                message=message,
                occurrences=1,
                opened_at=at,
                last_at=at,
            )
        )
        alert_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        fresh = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).one()
    return AlertChange(_record(fresh), "opened")


def resolve_alerts(
    store: Any, *, component: str, kinds: tuple[str, ...], at: datetime, rule: str | None = None
) -> list[AlertChange]:
    """Resolve the component's open alerts of these kinds, and the alerts grouped under
    them; each resolved alert, roots first."""
    db = database(store)
    with db.write("resolving alerts") as conn:
        query = select(t.alerts).where(
            t.alerts.c.component == component,
            t.alerts.c.status == "open",
            t.alerts.c.kind.in_(kinds),
        )
        query = query.where(t.alerts.c.rule == rule if rule else t.alerts.c.rule.is_(None))
        roots = conn.execute(query).all()
        ids = [r.id for r in roots]
        grouped = (
            conn.execute(
                select(t.alerts).where(t.alerts.c.root_id.in_(ids), t.alerts.c.status == "open")
            ).all()
            if ids
            else []
        )
        every = [*roots, *[g for g in grouped if g.id not in ids]]
        if every:
            conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id.in_([r.id for r in every]))
                .values(status="resolved", resolved_at=at)
            )
            rows = conn.execute(
                select(t.alerts).where(t.alerts.c.id.in_([r.id for r in every]))
            ).all()
            by_id = {r.id: r for r in rows}
            return [AlertChange(_record(by_id[r.id]), "resolved") for r in every]
    return []


def alerts(
    store: Any, *, status: str | None = None, component: str | None = None, limit: int = 100
) -> list[AlertRecord]:
    query = select(t.alerts)
    if status:
        query = query.where(t.alerts.c.status == status)
    if component:
        query = query.where(t.alerts.c.component == component)
    with database(store).read() as conn:
        rows = conn.execute(query.order_by(t.alerts.c.id.desc()).limit(limit)).all()
    return [_record(r) for r in rows]


def alert(store: Any, alert_id: int) -> AlertRecord | None:
    with database(store).read() as conn:
        row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
    return _record(row) if row is not None else None


def grouped_under(store: Any, alert_id: int) -> list[AlertRecord]:
    with database(store).read() as conn:
        rows = conn.execute(
            select(t.alerts).where(t.alerts.c.root_id == alert_id).order_by(t.alerts.c.id)
        ).all()
    return [_record(r) for r in rows]
