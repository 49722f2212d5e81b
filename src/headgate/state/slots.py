"""Schedule slots in the metadata store: each (schedule, slot time) exists once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from headgate.state.database import Database
from headgate.state.sqltypes import now
from headgate.state.tables import runs, schedule_pauses, schedule_slots


@dataclass
class Slot:
    schedule: str
    slot_at: datetime
    state: str  # "queued" | "started" | "skipped"
    run_id: int | None = None
    started_at: datetime | None = None


def claim_slot(db: Database, schedule: str, slot_at: datetime, state: str) -> bool:
    """Record a slot; False when it already exists (another replica, an earlier tick)."""
    row = {"schedule": schedule, "slot_at": slot_at, "state": state, "created_at": now()}
    try:
        with db.write("claiming a schedule slot") as conn:
            return db.insert_if_absent(conn, schedule_slots, row)
    except IntegrityError:
        return False


def last_slot(db: Database, schedule: str) -> datetime | None:
    with db.read() as conn:
        found = conn.execute(
            select(func.max(schedule_slots.c.slot_at)).where(schedule_slots.c.schedule == schedule)
        ).scalar()
    return found if isinstance(found, datetime) else None


def slots(db: Database, schedule: str, *, state: str | None = None) -> list[Slot]:
    query = select(schedule_slots).where(schedule_slots.c.schedule == schedule)
    if state is not None:
        query = query.where(schedule_slots.c.state == state)
    with db.read() as conn:
        rows = conn.execute(query.order_by(schedule_slots.c.slot_at)).all()
    return [Slot(r.schedule, r.slot_at, r.state, r.run_id, r.started_at) for r in rows]


def take_queued(db: Database, schedule: str, slot_at: datetime) -> bool:
    """Move a queued slot to started; False when another scheduler took it first."""
    with db.write("starting a schedule slot") as conn:
        result = conn.execute(
            update(schedule_slots)
            .where(
                schedule_slots.c.schedule == schedule,
                schedule_slots.c.slot_at == slot_at,
                schedule_slots.c.state == "queued",
            )
            .values(state="started", started_at=now())
        )
    return bool(result.rowcount)


def attach_run(db: Database, schedule: str, slot_at: datetime, run_id: int) -> None:
    with db.write("recording a slot's run") as conn:
        conn.execute(
            update(schedule_slots)
            .where(schedule_slots.c.schedule == schedule, schedule_slots.c.slot_at == slot_at)
            .values(run_id=run_id)
        )


def running_count(db: Database, schedule: str) -> int:
    """Started slots of ``schedule`` whose run is running or about to be."""
    joined = schedule_slots.outerjoin(runs, runs.c.id == schedule_slots.c.run_id)
    with db.read() as conn:
        found = conn.execute(
            select(func.count())
            .select_from(joined)
            .where(
                schedule_slots.c.schedule == schedule,
                schedule_slots.c.state == "started",
                (runs.c.status == "running") | schedule_slots.c.run_id.is_(None),
            )
        ).scalar()
    return int(found or 0)


def set_paused(db: Database, schedule: str, paused: bool, by: str | None) -> None:
    with db.write("pausing a schedule") as conn:
        conn.execute(delete(schedule_pauses).where(schedule_pauses.c.schedule == schedule))
        if paused:
            db.insert_if_absent(
                conn,
                schedule_pauses,
                {"schedule": schedule, "paused_by": by, "paused_at": now()},
            )


def paused(db: Database) -> set[str]:
    with db.read() as conn:
        return {row.schedule for row in conn.execute(select(schedule_pauses.c.schedule))}
