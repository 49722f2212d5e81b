"""Expected schedules: when a component should run (or a dataset be written), judged by a clock.

For each slot of a component's cron expression:

- no run started between ``slot - margin`` and ``slot + margin``: at ``slot + margin`` a
  **late start**; still none when the next slot comes: a **missing run**;
- with a ``duration``, the slot's run still running at ``slot + duration``: a **late end**;
- a dataset not written (``WRITE``) by ``slot + margin``: **dataset not ready**.

Each slot is judged once (``expected_slots``) and the clock is injected, so tests and the
hub's observer drive time the same way. :func:`upcoming` lists the next slots ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import select

from headgate.observe.config import ComponentConfig, ExpectedSchedule, ObserveConfig
from headgate.observe.ingest import database
from headgate.state import tables as t


@dataclass
class Finding:
    """A slot that went wrong: what to raise for which component."""

    component: str
    kind: str  # late_start | missing_run | late_end | dataset_not_ready
    slot_at: datetime
    message: str
    run_key: str | None = None


@dataclass
class Upcoming:
    component: str
    expected_start: datetime
    start_by: datetime
    expected_end: datetime | None


def slots_before(schedule: ExpectedSchedule, moment: datetime, count: int) -> list[datetime]:
    """The last ``count`` slots at or before ``moment``, oldest first (UTC)."""
    zone = ZoneInfo(schedule.timezone)
    it = croniter(schedule.cron, moment.astimezone(zone) + timedelta(seconds=1))
    found = [it.get_prev(datetime).astimezone(UTC) for _ in range(count)]
    return sorted(found)


def next_slot(schedule: ExpectedSchedule, after: datetime) -> datetime:
    zone = ZoneInfo(schedule.timezone)
    found: datetime = croniter(schedule.cron, after.astimezone(zone)).get_next(datetime)
    return found.astimezone(UTC)


def upcoming(config: ObserveConfig, moment: datetime, *, count: int = 3) -> list[Upcoming]:
    """The next ``count`` expected slots of every scheduled component, soonest first."""
    found = []
    for component in config.components:
        schedule = component.schedule
        if schedule is None:
            continue
        at = moment
        for _ in range(count):
            at = next_slot(schedule, at)
            end = at + timedelta(seconds=schedule.duration) if schedule.duration else None
            found.append(Upcoming(component.key, at, at + schedule.margin_delta, end))
    return sorted(found, key=lambda u: (u.expected_start, u.component))


def judge(store: Any, config: ObserveConfig, moment: datetime, since: datetime) -> list[Finding]:
    """Judge every scheduled component's recent slots at ``moment``; what newly went wrong.

    Only slots whose deadline falls after ``since`` (when headgate began watching) are
    judged: a new hub does not report what happened before it looked.
    """
    findings: list[Finding] = []
    for component in config.components:
        schedule = component.schedule
        if schedule is None:
            continue
        for slot in slots_before(schedule, moment, 2):
            if slot + schedule.margin_delta > since:
                findings += _judge_slot(store, component, schedule, slot, moment)
    return findings


def _judge_slot(
    store: Any,
    component: ComponentConfig,
    schedule: ExpectedSchedule,
    slot: datetime,
    moment: datetime,
) -> list[Finding]:
    margin = schedule.margin_delta
    if moment < slot + margin:
        return []
    following = next_slot(schedule, slot)
    if component.kind == "dataset":
        if _written(store, component.key, slot - margin, slot + margin):
            return []
        return _once(
            store,
            component.key,
            "arrival",
            slot,
            "dataset_not_ready",
            f"{component.key} was not written by {_clock(slot + margin)}",
        )
    run = _run_started(store, component.key, slot - margin, following - margin)
    found: list[Finding] = []
    if run is None or run.started_at >= slot + margin:
        found = _once(
            store,
            component.key,
            "start",
            slot,
            "late_start",
            f"{component.key} did not start by {_clock(slot + margin)} (expected at {_clock(slot)})",
            replaces=(),
        )
        if run is None and moment >= following:
            found += _once(
                store,
                component.key,
                "start",
                slot,
                "missing_run",
                f"{component.key} did not run for its {_clock(slot)} slot",
                replaces=("late_start",),
            )
    if run is None or schedule.duration is None:
        return found
    expected_end = slot + timedelta(seconds=schedule.duration)
    if moment >= expected_end and (run.ended_at is None or run.ended_at > expected_end):
        return found + _once(
            store,
            component.key,
            "end",
            slot,
            "late_end",
            f"{component.key} run {run.run_key} was still running at {_clock(expected_end)}",
            run_key=run.run_key,
        )
    return found


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _once(
    store: Any,
    component: str,
    expectation: str,
    slot: datetime,
    state: str,
    message: str,
    *,
    replaces: tuple[str, ...] = (),
    run_key: str | None = None,
) -> list[Finding]:
    """A finding, the first time this slot reaches this state."""
    db = database(store)
    key = (
        t.expected_slots.c.component == component,
        t.expected_slots.c.expectation == expectation,
        t.expected_slots.c.slot_at == slot,
    )
    with db.write("judging an expected slot") as conn:
        before = conn.execute(select(t.expected_slots.c.state).where(*key)).scalar()
        if before == state or (before is not None and before not in replaces):
            return []
        row = {
            "component": component,
            "expectation": expectation,
            "slot_at": slot,
            "state": state,
            "updated_at": datetime.now(UTC),
        }
        db.upsert(conn, t.expected_slots, ["component", "expectation", "slot_at"], [row])
    return [Finding(component, state, slot, message, run_key)]


def _run_started(store: Any, component: str, start: datetime, end: datetime) -> Any:
    query = (
        select(t.component_runs)
        .where(
            t.component_runs.c.component == component,
            t.component_runs.c.started_at >= start,
            t.component_runs.c.started_at < end,
        )
        .order_by(t.component_runs.c.started_at)
    )
    with database(store).read() as conn:
        return conn.execute(query).first()


def _written(store: Any, component: str, start: datetime, end: datetime) -> bool:
    query = select(t.events.c.body).where(
        t.events.c.component == component,
        t.events.c.kind == "dataset-operation",
        t.events.c.event_at >= start,
        t.events.c.event_at < end,
    )
    with database(store).read() as conn:
        return any(row.body.get("operation") == "WRITE" for row in conn.execute(query).all())
