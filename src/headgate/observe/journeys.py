"""Journeys: named paths through components, and instances (one pass through a journey).

Journeys declared in headgate.yml are written to the store when the hub starts or the
file changes (:func:`sync_config`); a journey named in an event's ``metadata.journey``
is created by that event. An instance opens with the first run of any of the journey's
components and closes when each component that runs has a run that ended in it; a
component that runs again while the instance is open starts the next pass (the open one
closes as ``incomplete`` if some component never reported).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from headgate.observe.config import ObserveConfig
from headgate.observe.events import END_STATUSES, Event
from headgate.observe.ingest import database
from headgate.state import tables as t
from headgate.state.sqltypes import now

NOT_RUN = ("dataset", "server")  # components that have no runs of their own


@dataclass
class JourneyRecord:
    name: str
    source: str
    description: str | None = None
    components: list[str] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class InstanceRecord:
    id: int
    journey: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    runs: dict[str, str]


def sync_config(store: Any, config: ObserveConfig, own: dict[str, dict[str, Any]]) -> None:
    """Write the declared components and journeys (and headgate's own components, ``own``:
    key -> kind, name, owner) to the store; journeys no longer declared are removed."""
    db = database(store)
    stamp = now()
    declared = [
        {
            "key": c.key,
            "name": c.name,
            "kind": c.kind,
            "tool": c.tool,
            "owner": c.owner,
            "source": "config",
            "status": None,
            "status_at": None,
            "created_at": stamp,
        }
        for c in config.components
    ]
    headgate = [
        {"key": key, "source": "headgate", "status": None, "status_at": None, "created_at": stamp}
        | {"kind": v.get("kind", "model"), "name": v.get("name"), "tool": "headgate"}
        | {"owner": v.get("owner")}
        for key, v in own.items()
        if config.component(key) is None
    ]
    with db.write("keeping the declared journeys") as conn:
        for rows in (declared, headgate):
            if rows:
                db.upsert(
                    conn, t.components, ["key"], rows, keep=["status", "status_at", "created_at"]
                )
        for journey in config.journeys:
            for key in journey.members():
                if key not in own and config.component(key) is None:
                    _component_if_absent(db, conn, key, stamp)
        _sync_journeys(db, conn, config, stamp)


def _component_if_absent(db: Any, conn: Connection, key: str, stamp: datetime) -> None:
    row = {"key": key, "kind": "batch_pipeline", "source": "config", "created_at": stamp}
    stmt: Any = db.insert(t.components)
    conn.execute(stmt.on_conflict_do_nothing(), row)


def _sync_journeys(db: Any, conn: Connection, config: ObserveConfig, stamp: datetime) -> None:
    names = [j.name for j in config.journeys]
    stale = select(t.journeys.c.name).where(t.journeys.c.source == "config")
    for (name,) in conn.execute(stale).all():
        if name not in names:
            _drop_journey(conn, name)
    for journey in config.journeys:
        _drop_journey(conn, journey.name)
        conn.execute(
            t.journeys.insert(),
            {
                "name": journey.name,
                "description": journey.description,
                "source": "config",
                "created_at": stamp,
            },
        )
        conn.execute(
            t.journey_components.insert(),
            [{"journey": journey.name, "component": key} for key in journey.members()],
        )
        links = journey.links()
        if links:
            conn.execute(
                t.journey_edges.insert(),
                [{"journey": journey.name, "upstream": a, "downstream": b} for a, b in links],
            )


def _drop_journey(conn: Connection, name: str) -> None:
    conn.execute(delete(t.journey_edges).where(t.journey_edges.c.journey == name))
    conn.execute(delete(t.journey_components).where(t.journey_components.c.journey == name))
    conn.execute(delete(t.journeys).where(t.journeys.c.name == name))


def journeys(store: Any) -> list[JourneyRecord]:
    """Every journey with its components and edges."""
    with database(store).read() as conn:
        found = {
            r.name: JourneyRecord(r.name, r.source, r.description)
            for r in conn.execute(select(t.journeys).order_by(t.journeys.c.name)).all()
        }
        for row in conn.execute(select(t.journey_components)).all():
            if row.journey in found:
                found[row.journey].components.append(row.component)
        for row in conn.execute(select(t.journey_edges)).all():
            if row.journey in found:
                found[row.journey].edges.append((row.upstream, row.downstream))
    for journey in found.values():
        journey.components = _ordered(journey.components, journey.edges)
    return list(found.values())


def journey(store: Any, name: str) -> JourneyRecord | None:
    return next((j for j in journeys(store) if j.name == name), None)


def _ordered(members: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Members upstream first (a topological order; ties by name)."""
    ups: dict[str, set[str]] = {m: set() for m in members}
    for a, b in edges:
        ups.setdefault(b, set()).add(a)
        ups.setdefault(a, set())
    order: list[str] = []
    ready = sorted(m for m, u in ups.items() if not u)
    while ready:
        node = ready.pop(0)
        order.append(node)
        for other in sorted(ups):
            if node in ups[other]:
                ups[other].discard(node)
                if not ups[other] and other not in order and other not in ready:
                    ready.append(other)
    return order + sorted(m for m in ups if m not in order)


def upstream_edges(store: Any) -> dict[str, set[str]]:
    """component -> the components directly upstream of it, in any journey."""
    ups: dict[str, set[str]] = {}
    with database(store).read() as conn:
        for row in conn.execute(select(t.journey_edges)).all():
            ups.setdefault(row.downstream, set()).add(row.upstream)
    return ups


def instances(store: Any, name: str, *, limit: int = 20) -> list[InstanceRecord]:
    query = (
        select(t.journey_instances)
        .where(t.journey_instances.c.journey == name)
        .order_by(t.journey_instances.c.id.desc())
        .limit(limit)
    )
    with database(store).read() as conn:
        rows = conn.execute(query).all()
    return [
        InstanceRecord(r.id, r.journey, r.status, r.started_at, r.ended_at, dict(r.runs))
        for r in rows
    ]


def follow_instances(store: Any, events: Sequence[Event]) -> None:
    """Open, extend and close instances of the journeys these run events belong to."""
    runs = [e for e in events if e.kind == "run-status" and e.run_key and e.task_key is None]
    if not runs:
        return
    db = database(store)
    with db.write("following journey instances") as conn:
        membership = _memberships(conn, {e.component for e in runs})
        for event in runs:
            for name in membership.get(event.component, ()):
                _follow(conn, name, event)


def _memberships(conn: Connection, keys: Iterable[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    rows = conn.execute(
        select(t.journey_components).where(t.journey_components.c.component.in_(list(keys)))
    ).all()
    for row in rows:
        found.setdefault(row.component, []).append(row.journey)
    return found


def _follow(conn: Connection, name: str, event: Event) -> None:
    assert event.run_key is not None
    open_row = conn.execute(
        select(t.journey_instances)
        .where(t.journey_instances.c.journey == name, t.journey_instances.c.ended_at.is_(None))
        .order_by(t.journey_instances.c.id.desc())
    ).first()
    runs: dict[str, str] = dict(open_row.runs) if open_row is not None else {}
    if open_row is not None and runs.get(event.component, event.run_key) != event.run_key:
        _close(conn, open_row.id, runs, event.at, incomplete=True)
        open_row, runs = None, {}
    runs[event.component] = event.run_key
    if open_row is None:
        result = conn.execute(
            t.journey_instances.insert().values(
                journey=name, status="running", started_at=event.at, runs=runs
            )
        )
        instance_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    else:
        instance_id = open_row.id
        conn.execute(
            update(t.journey_instances)
            .where(t.journey_instances.c.id == instance_id)
            .values(runs=runs)
        )
    if _all_ended(conn, name, runs):
        _close(conn, instance_id, runs, event.at, incomplete=False)


def _run_statuses(conn: Connection, runs: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for component, run_key in runs.items():
        status = conn.execute(
            select(t.component_runs.c.status).where(
                t.component_runs.c.component == component, t.component_runs.c.run_key == run_key
            )
        ).scalar()
        if status is not None:
            found[component] = str(status)
    return found


def _all_ended(conn: Connection, name: str, runs: dict[str, str]) -> bool:
    members = conn.execute(
        select(t.components.c.key, t.components.c.kind)
        .join(t.journey_components, t.journey_components.c.component == t.components.c.key)
        .where(t.journey_components.c.journey == name)
    ).all()
    running = [m.key for m in members if m.kind not in NOT_RUN]
    statuses = _run_statuses(conn, runs)
    return all(statuses.get(key) in END_STATUSES for key in running)


def _close(
    conn: Connection, instance_id: int, runs: dict[str, str], at: datetime, *, incomplete: bool
) -> None:
    statuses = set(_run_statuses(conn, runs).values())
    if "FAILED" in statuses:
        status = "failed"
    elif incomplete:
        status = "incomplete"
    elif "COMPLETED_WITH_WARNINGS" in statuses:
        status = "warnings"
    else:
        status = "completed"
    conn.execute(
        update(t.journey_instances)
        .where(t.journey_instances.c.id == instance_id)
        .values(status=status, ended_at=at, runs=runs)
    )
