"""Events into the metadata store: one transaction per request, however many events.

:func:`ingest` keeps each event as received and folds it into the current picture:
components (created on the first event carrying a key, with their latest status), runs
of each component (opened by RUNNING, closed by an end status, in whatever order the
events arrive), their tasks, and journeys named in an event's metadata. Rules and
expected schedules read that picture later (:mod:`headgate.observe.observer`), so
posting an event never waits for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_, update

from headgate.observe.events import END_STATUSES, Event
from headgate.state import tables as t
from headgate.state.database import Database
from headgate.state.sqltypes import now

CHUNK = 500  # keys per IN (...) list


def database(store: Any) -> Database:
    """The metadata store's database (the store keeps it for its own query modules)."""
    db: Database = store._db
    return db


def ingest(store: Any, events: Sequence[Event]) -> list[str]:
    """Keep ``events`` and fold them into components, runs, tasks and journeys; their ids."""
    if not events:
        return []
    db = database(store)
    with db.write("keeping events") as conn:
        conn.execute(t.events.insert(), [_event_row(e) for e in events])
        _keep_components(db, conn, events)
        _keep_journeys(db, conn, events)
        runs = [e for e in events if e.kind == "run-status" and e.run_key]
        if runs:
            with_tasks = any(e.task_key is not None for e in runs)
            ids = _keep_runs(db, conn, runs, with_ids=with_tasks)
            if with_tasks:
                _keep_tasks(db, conn, runs, ids)
    return [e.event_id for e in events]


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "component": event.component,
        "run_key": event.run_key,
        "task_key": event.task_key,
        "event_at": event.at,
        "received_at": event.received_at,
        "source": event.source,
        "body": event.body,
    }


def _status_of(event: Event) -> str | None:
    """What the component's latest status becomes after this event."""
    if event.kind == "run-status" and event.task_key is None:
        return event.status
    if event.kind == "dataset-operation":
        return str(event.body.get("operation"))
    return None


def _keep_components(db: Database, conn: Connection, events: Sequence[Event]) -> None:
    """Create the components first seen here; move each one's status and names on, with
    one statement per kind of change (executemany), however many components."""
    first: dict[str, Event] = {}
    latest: dict[str, tuple[datetime, str]] = {}
    named: dict[str, dict[str, str]] = {}
    for event in events:
        first.setdefault(event.component, event)
        status = _status_of(event)
        if status is not None:
            before = latest.get(event.component)
            if before is None or event.at >= before[0]:
                latest[event.component] = (event.at, status)
        names = {
            k: v
            for k, v in (
                ("tool", event.tool),
                ("owner", event.owner),
                ("name", event.component_name),
            )
            if v
        }
        if names:
            named.setdefault(event.component, {}).update(names)
    existing = _existing_components(conn, list(first))
    created = now()
    new_rows = [
        {
            "key": key,
            "name": e.component_name,
            "kind": e.component_kind,
            "tool": e.tool,
            "owner": e.owner,
            "source": e.source if e.source != "api" else "events",
            "status": latest.get(key, (None, None))[1],
            "status_at": latest.get(key, (None, None))[0],
            "created_at": created,
        }
        for key, e in first.items()
        if key not in existing
    ]
    if new_rows:
        stmt: Any = db.insert(t.components)
        conn.execute(stmt.on_conflict_do_nothing(), new_rows)
    moved = [
        {"k": key, "s": status, "a": at}
        for key, (at, status) in latest.items()
        if key in existing
        and (existing[key].status_at is None or existing[key].status_at <= at)
        and (existing[key].status, existing[key].status_at) != (status, at)
    ]
    if moved:
        conn.execute(
            update(t.components)
            .where(t.components.c.key == bindparam("k"))
            .values(status=bindparam("s"), status_at=bindparam("a")),
            moved,
        )
    for key, names in named.items():
        row = existing.get(key)
        if row is None:
            continue
        declared = row.source == "config"  # headgate.yml wins; events fill what it left out
        changed = {
            k: v
            for k, v in names.items()
            if getattr(row, k) != v and not (declared and getattr(row, k) is not None)
        }
        if changed:
            conn.execute(update(t.components).where(t.components.c.key == key).values(**changed))


def _existing_components(conn: Connection, keys: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = conn.execute(select(t.components).where(t.components.c.key.in_(chunk))).all()
        found.update({r.key: r for r in rows})
    return found


def _keep_journeys(db: Database, conn: Connection, events: Sequence[Event]) -> None:
    pairs = {(e.journey, e.component) for e in events if e.journey}
    if not pairs:
        return
    created = now()
    journeys: Any = db.insert(t.journeys)
    conn.execute(
        journeys.on_conflict_do_nothing(),
        [
            {"name": name, "description": None, "source": "events", "created_at": created}
            for name in sorted({j for j, _ in pairs})
        ],
    )
    members: Any = db.insert(t.journey_components)
    conn.execute(
        members.on_conflict_do_nothing(),
        [{"journey": j, "component": c} for j, c in sorted(pairs)],
    )


@dataclass
class _RunFold:
    component: str
    run_key: str
    status: str | None = None  # the run's own status (events without a task)
    status_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


def _fold_runs(events: Iterable[Event]) -> dict[tuple[str, str], _RunFold]:
    folds: dict[tuple[str, str], _RunFold] = {}
    for event in events:
        assert event.run_key is not None
        key = (event.component, event.run_key)
        fold = folds.setdefault(key, _RunFold(*key))
        fold.started_at = min(fold.started_at or event.at, event.at)
        if event.task_key is not None:
            continue
        status = event.status or "RUNNING"
        if status in END_STATUSES:
            fold.ended_at = max(fold.ended_at or event.at, event.at)
        if _later(status, event.at, fold.status, fold.status_at):
            fold.status, fold.status_at = status, event.at
    return folds


def _later(status: str, at: datetime, before: str | None, before_at: datetime | None) -> bool:
    """Whether ``status`` at ``at`` replaces ``before``: an ended run stays ended when a
    late RUNNING arrives, and of two statuses the later one wins."""
    if before is None or before_at is None:
        return True
    if before in END_STATUSES and status not in END_STATUSES:
        return False
    if status in END_STATUSES and before not in END_STATUSES:
        return True
    return at >= before_at


def _keep_runs(
    db: Database, conn: Connection, events: Sequence[Event], *, with_ids: bool
) -> dict[tuple[str, str], int]:
    """Open, update and close the runs the events tell of; their ids if ``with_ids``."""
    folds = _fold_runs(events)
    existing = _existing_runs(conn, list(folds))
    stamp = now()
    new_rows = []
    for key, fold in folds.items():
        row = existing.get(key)
        if row is None:
            new_rows.append(
                {
                    "component": fold.component,
                    "run_key": fold.run_key,
                    "status": fold.status or "RUNNING",
                    "started_at": fold.started_at,
                    "ended_at": fold.ended_at,
                    "updated_at": stamp,
                }
            )
            continue
        values: dict[str, Any] = {"updated_at": stamp}
        if fold.status is not None and _later(
            fold.status, fold.status_at or stamp, row.status, row.ended_at or row.started_at
        ):
            values["status"] = fold.status
        if fold.started_at and (row.started_at is None or fold.started_at < row.started_at):
            values["started_at"] = fold.started_at
        if fold.ended_at and (row.ended_at is None or fold.ended_at > row.ended_at):
            values["ended_at"] = fold.ended_at
        conn.execute(update(t.component_runs).where(t.component_runs.c.id == row.id).values(values))
    if new_rows:
        stmt: Any = db.insert(t.component_runs)
        conn.execute(stmt.on_conflict_do_nothing(), new_rows)
    ids = {key: row.id for key, row in existing.items()}
    missing = [key for key in folds if key not in ids]
    if missing and with_ids:
        ids.update({key: row.id for key, row in _existing_runs(conn, missing).items()})
    return ids


def _existing_runs(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    columns = tuple_(t.component_runs.c.component, t.component_runs.c.run_key)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = conn.execute(select(t.component_runs).where(columns.in_(chunk))).all()
        found.update({(r.component, r.run_key): r for r in rows})
    return found


def _keep_tasks(
    db: Database, conn: Connection, events: Sequence[Event], ids: dict[tuple[str, str], int]
) -> None:
    tasks: dict[tuple[int, str], dict[str, Any]] = {}
    for event in events:
        if event.task_key is None or event.run_key is None:
            continue
        run_id = ids[(event.component, event.run_key)]
        row = tasks.setdefault(
            (run_id, event.task_key),
            {"run_id": run_id, "task_key": event.task_key, "status": "RUNNING"},
        )
        status = event.status or "RUNNING"
        row["started_at"] = min(row.get("started_at") or event.at, event.at)
        if status in END_STATUSES:
            row["ended_at"] = event.at
            row["status"] = status
        elif row["status"] not in END_STATUSES:
            row["status"] = status
    if not tasks:
        return
    rows = [{"ended_at": None, **row} for row in tasks.values()]
    before = {
        (r.run_id, r.task_key): r
        for r in conn.execute(
            select(t.component_tasks).where(
                tuple_(t.component_tasks.c.run_id, t.component_tasks.c.task_key).in_(list(tasks))
            )
        ).all()
    }
    for row in rows:
        old = before.get((row["run_id"], row["task_key"]))
        if old is not None:
            if old.status in END_STATUSES and row["status"] not in END_STATUSES:
                row["status"], row["ended_at"] = old.status, old.ended_at
            if old.started_at is not None:
                row["started_at"] = min(old.started_at, row["started_at"])
    db.upsert(conn, t.component_tasks, ["run_id", "task_key"], rows)
