"""Reading what was observed: events, components and their runs, as plain records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from headgate.observe.ingest import database
from headgate.state import tables as t


@dataclass
class EventRecord:
    event_id: str
    event_type: str
    component: str
    run_key: str | None
    task_key: str | None
    event_timestamp: datetime
    received_timestamp: datetime
    source: str
    body: dict[str, Any]
    seq: int


@dataclass
class ComponentRecord:
    key: str
    kind: str
    name: str | None = None
    tool: str | None = None
    owner: str | None = None
    source: str = "events"
    status: str | None = None
    status_at: datetime | None = None


@dataclass
class RunRecord:
    id: int
    component: str
    run_key: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    expected_start: datetime | None = None
    expected_end: datetime | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)


def events(
    store: Any,
    *,
    component: str | None = None,
    kind: str | None = None,
    run_key: str | None = None,
    after: int = 0,
    limit: int = 100,
    newest_first: bool = True,
) -> list[EventRecord]:
    """Events, filtered; ``after`` a sequence number when reading on."""
    query = select(t.events).where(t.events.c.seq > after)
    if component:
        query = query.where(t.events.c.component == component)
    if kind:
        query = query.where(t.events.c.kind == kind)
    if run_key:
        query = query.where(t.events.c.run_key == run_key)
    order = t.events.c.seq.desc() if newest_first else t.events.c.seq
    with database(store).read() as conn:
        rows = conn.execute(query.order_by(order).limit(limit)).all()
    return [_event(r) for r in rows]


def event(store: Any, event_id: str) -> EventRecord | None:
    with database(store).read() as conn:
        row = conn.execute(select(t.events).where(t.events.c.event_id == event_id)).first()
    return _event(row) if row is not None else None


def _event(row: Any) -> EventRecord:
    return EventRecord(
        event_id=row.event_id,
        event_type=row.kind,
        component=row.component,
        run_key=row.run_key,
        task_key=row.task_key,
        event_timestamp=row.event_at,
        received_timestamp=row.received_at,
        source=row.source,
        body=row.body,
        seq=row.seq,
    )


def event_count(store: Any) -> int:
    with database(store).read() as conn:
        return int(conn.execute(select(func.count()).select_from(t.events)).scalar() or 0)


def components(store: Any) -> list[ComponentRecord]:
    with database(store).read() as conn:
        rows = conn.execute(select(t.components).order_by(t.components.c.key)).all()
    return [_component(r) for r in rows]


def component(store: Any, key: str) -> ComponentRecord | None:
    with database(store).read() as conn:
        row = conn.execute(select(t.components).where(t.components.c.key == key)).first()
    return _component(row) if row is not None else None


def _component(row: Any) -> ComponentRecord:
    return ComponentRecord(
        key=row.key,
        kind=row.kind,
        name=row.name,
        tool=row.tool,
        owner=row.owner,
        source=row.source,
        status=row.status,
        status_at=row.status_at,
    )


def runs(
    store: Any, component: str, *, limit: int = 20, with_tasks: bool = False
) -> list[RunRecord]:
    """A component's runs, newest first."""
    query = (
        select(t.component_runs)
        .where(t.component_runs.c.component == component)
        .order_by(t.component_runs.c.id.desc())
        .limit(limit)
    )
    with database(store).read() as conn:
        rows = conn.execute(query).all()
        found = [_run(r) for r in rows]
        if with_tasks and found:
            by_id = {r.id: r for r in found}
            tasks = conn.execute(
                select(t.component_tasks)
                .where(t.component_tasks.c.run_id.in_(list(by_id)))
                .order_by(t.component_tasks.c.started_at)
            ).all()
            for task in tasks:
                by_id[task.run_id].tasks.append(
                    {
                        "task_key": task.task_key,
                        "status": task.status,
                        "started_at": task.started_at,
                        "ended_at": task.ended_at,
                    }
                )
    return found


def _run(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        component=row.component,
        run_key=row.run_key,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        expected_start=row.expected_start,
        expected_end=row.expected_end,
    )
