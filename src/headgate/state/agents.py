"""Agents as the hub knows them, the queue as people read it, and the lines tasks printed.

An agent is recorded when it registers and *seen* whenever it calls (a claim, a
heartbeat): its health follows from how long ago that was against how often it promised
to call (``every_seconds``): healthy within two periods, late within four, then offline.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from headgate.state.records import PhysicalRecord
from headgate.state.sqltypes import now
from headgate.state.tables import agents, physical_tables, runs, task_output, task_queue, tasks

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from headgate.state.database import Database
    from headgate.state.store import StateStore

HEALTHY, LATE, OFFLINE = "healthy", "late", "offline"


@dataclass
class AgentRecord:
    name: str
    labels: dict[str, str]
    capacity: int
    version: str | None
    host: str | None
    every_seconds: float
    registered_at: datetime
    seen_at: datetime
    health: str = HEALTHY
    tasks: list[QueuedTask] = field(default_factory=list)


@dataclass
class QueuedTask:
    id: int
    run_id: int
    task: str
    state: str
    labels: dict[str, str]
    agent: str | None
    attempts: int
    lease_until: datetime | None
    error: str | None
    created_at: datetime


@dataclass
class OutputLine:
    task: str
    attempt: int
    source: str | None
    at: datetime
    line: str


def database(store: StateStore) -> Database:
    """The store's database, for the queries of this module."""
    db: Database = store._db
    return db


class OneConnection:
    """A database whose every read and write is one connection's (the caller's
    transaction): several store calls applied together, or read with one checkout."""

    def __init__(self, db: Database, conn: Connection) -> None:
        self._db = db
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        yield self._conn

    @contextmanager
    def write(self, action: str = "writing") -> Iterator[Connection]:
        yield self._conn


def store_in(store: StateStore, conn: Connection) -> StateStore:
    """``store`` whose calls all run in ``conn``'s transaction."""
    bound = copy.copy(store)
    bound._db = OneConnection(database(store), conn)  # type: ignore[assignment]
    return bound


def register(
    db: Database,
    name: str,
    *,
    labels: dict[str, str],
    capacity: int,
    version: str | None,
    host: str | None,
    every_seconds: float,
) -> None:
    """Record the agent (again: its labels and capacity may have changed)."""
    stamp = now()
    row = {
        "name": name,
        "labels": labels,
        "capacity": capacity,
        "version": version,
        "host": host,
        "every_seconds": every_seconds,
        "registered_at": stamp,
        "seen_at": stamp,
    }
    with db.write("registering an agent") as conn:
        db.upsert(conn, agents, ["name"], [row])


def seen(db: Database, name: str) -> bool:
    """The agent called just now; False when it never registered."""
    with db.write("recording an agent's call") as conn:
        return bool(
            conn.execute(update(agents).where(agents.c.name == name).values(seen_at=now())).rowcount
        )


def run_brief(db: Database, run_id: int) -> tuple[str, str | None]:
    """A run's environment and git commit (("", None) for no such run)."""
    with db.read() as conn:
        row = conn.execute(
            select(runs.c.environment, runs.c.git_commit).where(runs.c.id == run_id)
        ).first()
    return ("", None) if row is None else (str(row[0]), row[1])


def labels_of(db: Database, name: str) -> dict[str, str] | None:
    """The labels the agent registered with; None when it never registered."""
    with db.read() as conn:
        row = conn.execute(select(agents.c.labels).where(agents.c.name == name)).first()
    return None if row is None else {str(k): str(v) for k, v in (row[0] or {}).items()}


def health(record: AgentRecord, at: datetime) -> str:
    age = (at - record.seen_at).total_seconds()
    if age <= 2 * record.every_seconds:
        return HEALTHY
    return LATE if age <= 4 * record.every_seconds else OFFLINE


def list_agents(db: Database) -> list[AgentRecord]:
    """Every agent with its health and the tasks it holds now."""
    with db.read() as conn:
        rows = conn.execute(select(agents).order_by(agents.c.name)).mappings().all()
        held = conn.execute(
            select(task_queue).where(task_queue.c.state == "leased").order_by(task_queue.c.id)
        ).mappings()
        leased = [_queued(row) for row in held]
    stamp = now()
    found = []
    for row in rows:
        record = AgentRecord(**{k: row[k] for k in row.keys()})  # noqa: SIM118 - a mapping row
        record.labels = dict(record.labels or {})
        record.health = health(record, stamp)
        record.tasks = [task for task in leased if task.agent == record.name]
        found.append(record)
    return found


def queue_of(db: Database, *, unfinished: bool = True, limit: int = 500) -> list[QueuedTask]:
    """The queue's tasks, oldest first: those waiting or held (or the newest of all)."""
    query = select(task_queue)
    if unfinished:
        query = query.where(task_queue.c.state.in_(("waiting", "queued", "leased"))).order_by(
            task_queue.c.id
        )
    else:
        query = query.order_by(task_queue.c.id.desc())
    with db.read() as conn:
        return [_queued(row) for row in conn.execute(query.limit(limit)).mappings()]


def tasks_of_run(db: Database, run_id: int) -> list[QueuedTask]:
    with db.read() as conn:
        rows = conn.execute(
            select(task_queue).where(task_queue.c.run_id == run_id).order_by(task_queue.c.id)
        ).mappings()
        return [_queued(row) for row in rows]


def lease_of(db: Database, lease_id: int) -> QueuedTask | None:
    with db.read() as conn:
        row = conn.execute(select(task_queue).where(task_queue.c.id == lease_id)).mappings().first()
    return None if row is None else _queued(row)


def leased(db: Database, lease_id: int, fence: int) -> QueuedTask | None:
    """The task under lease ``lease_id`` if ``fence`` is its current token."""
    from headgate.state.quickread import quick_read

    with quick_read(db) as conn:
        row = (
            conn.execute(
                select(task_queue).where(
                    task_queue.c.id == lease_id,
                    task_queue.c.fence == fence,
                    task_queue.c.state == "leased",
                )
            )
            .mappings()
            .first()
        )
    return None if row is None else _queued(row)


def current_fence(db: Database, lease_id: int) -> int | None:
    with db.read() as conn:
        fence = conn.execute(
            select(task_queue.c.fence).where(
                task_queue.c.id == lease_id, task_queue.c.state == "leased"
            )
        ).scalar()
    return None if fence is None else int(fence)


def add_output(
    db: Database, run_id: int, task: str, attempt: int, source: str | None, lines: list[str]
) -> None:
    stamp = now()
    rows = [
        {
            "run_id": run_id,
            "task": task,
            "attempt": attempt,
            "source": source,
            "at": stamp,
            "line": line,
        }
        for line in lines
    ]
    if rows:
        with db.write("keeping a task's output") as conn:
            conn.execute(task_output.insert(), rows)


def output_of(db: Database, run_id: int, task: str | None = None) -> list[OutputLine]:
    query = select(task_output).where(task_output.c.run_id == run_id)
    if task is not None:
        query = query.where(task_output.c.task == task)
    with db.read() as conn:
        rows = conn.execute(query.order_by(task_output.c.id)).mappings().all()
    return [OutputLine(r["task"], int(r["attempt"]), r["source"], r["at"], r["line"]) for r in rows]


def interrupted_runs(db: Database) -> list[int]:
    """Runs handed to agents whose coordinating process died (marked abandoned)."""
    with db.read() as conn:
        queued = select(task_queue.c.run_id).distinct()
        rows = conn.execute(
            select(runs.c.id).where(runs.c.status == "abandoned", runs.c.id.in_(queued))
        ).scalars()
        return [int(run_id) for run_id in rows]


def unqueued_runs(db: Database) -> list[tuple[int, dict[str, Any] | None]]:
    """Runs for agents whose hub died after recording them but before queuing their tasks
    (abandoned, nothing queued), oldest first, each with the placement it kept (None: it
    was recorded before runs kept one, and was not yet told why it stays abandoned)."""
    with db.read() as conn:
        queued = select(task_queue.c.run_id).distinct()
        rows = conn.execute(
            select(runs.c.id, runs.c.placement, runs.c.error)
            .where(
                runs.c.status == "abandoned",
                runs.c.command.startswith("run (agents)"),
                runs.c.id.not_in(queued),
            )
            .order_by(runs.c.id)
        ).all()
    return [
        (int(row.id), dict(row.placement) if row.placement else None)
        for row in rows
        if row.placement or row.error is None
    ]


def physical_named(
    db: Database, names: list[str], model: str | None = None
) -> dict[str, PhysicalRecord]:
    """The physical records of ``names`` and, with ``model``, every record of that model
    (a source's load log), keyed by name: what one task reads instead of them all."""
    return physical_of(db, names, [model] if model is not None else [])


def physical_of(db: Database, names: list[str], models: list[str]) -> dict[str, PhysicalRecord]:
    """:func:`physical_named` for several tasks at once: the records of ``names`` and
    every record of ``models``."""
    found: dict[str, PhysicalRecord] = {}
    with db.read() as conn:
        for start in range(0, max(len(names), 1), 500):
            where: Any = physical_tables.c.name.in_(names[start : start + 500])
            if models and start == 0:
                where = or_(where, physical_tables.c.model.in_(models))
            for row in conn.execute(select(physical_tables).where(where)).mappings():
                values = dict(row)
                values["inputs"] = values["inputs"] or {}
                found[values["name"]] = PhysicalRecord(**values)
    return found


def plan_parts(db: Database, run_id: int) -> tuple[dict[str, Any], list[tuple[str, Any]]] | None:
    """A run's plan as stored, and each task's (status, spec): what an agent rebuilds the
    plan from (runtime/hub_store.py), once per run."""
    with db.read() as conn:
        plan = conn.execute(select(runs.c.plan).where(runs.c.id == run_id)).scalar()
        if plan is None:
            return None
        rows = conn.execute(
            select(tasks.c.status, tasks.c.spec).where(
                tasks.c.run_id == run_id, tasks.c.spec.is_not(None)
            )
        ).all()
    return dict(plan), [(str(row.status), row.spec) for row in rows]


def task_specs(db: Database, run_id: int, names: list[str]) -> dict[str, tuple[str, Any]]:
    """(status, spec) of some of a run's tasks: what upstream tasks ended with."""
    if not names:
        return {}
    with db.read() as conn:
        rows = conn.execute(
            select(tasks.c.name, tasks.c.status, tasks.c.spec).where(
                tasks.c.run_id == run_id, tasks.c.name.in_(names), tasks.c.spec.is_not(None)
            )
        ).all()
    return {str(row.name): (str(row.status), row.spec) for row in rows}


def _queued(row: Any) -> QueuedTask:
    return QueuedTask(
        id=int(row["id"]),
        run_id=int(row["run_id"]),
        task=row["task"],
        state=row["state"],
        labels={str(k): str(v) for k, v in (row["labels"] or {}).items()},
        agent=row["agent"],
        attempts=int(row["attempts"]),
        lease_until=row["lease_until"],
        error=row["error"],
        created_at=row["created_at"],
    )
