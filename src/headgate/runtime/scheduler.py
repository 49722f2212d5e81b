"""The scheduler: schedules from ``headgate.yml`` become runs, each slot exactly once.

Every tick it looks at each schedule's slots since the last one it recorded. A slot is
recorded in the metadata store before its run starts, keyed by (schedule, slot time), so
however many hub replicas tick, a slot is queued once and started once. After downtime,
``catch_up`` decides what the missed slots become: ``none`` skips them all (a slot runs
only when the scheduler sees it within ``ON_TIME`` of its time), ``latest`` runs the
newest and skips the rest, ``all`` runs each of them (the newest ``catch_up_limit``),
oldest first, every run with its slot's time as its end, so an incremental model
processes the slot's own ranges. A schedule runs at most ``max_concurrent`` runs at once;
later slots wait, queued, for one to finish.

Exactly one scheduler acts at a time: it holds the metadata store's ``scheduler`` lock
(an advisory lock on PostgreSQL, held by its connection; the store's lock row on
SQLite). A replica whose leader died takes over at its next try: at once when the
leader's connection or process is gone, at most ``STALE_AFTER`` (120 s) after its last
heartbeat otherwise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from headgate.errors import WarehouseBusy

if TYPE_CHECKING:
    from headgate.project.schedules import ScheduleConfig
    from headgate.runtime.triggers import FileWatch
    from headgate.state.store import Lock, StateStore

log = logging.getLogger(__name__)

ON_TIME = timedelta(seconds=60)  # `catch_up: none` still runs a slot seen this soon after
LEADER_LOCK = "scheduler"

Launch = Callable[["ScheduleConfig", datetime], None]  # start a run for a slot (returns at once)


@dataclass
class Tick:
    """What one tick did: slots queued, skipped and started, by schedule."""

    queued: list[tuple[str, datetime]]
    skipped: list[tuple[str, datetime]]
    started: list[tuple[str, datetime]]
    triggered: list[tuple[str, list[str]]] = field(default_factory=list)  # (trigger, new files)


class Scheduler:
    def __init__(
        self,
        schedules: list[ScheduleConfig],
        store: StateStore,
        launch: Launch,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        watch: FileWatch | None = None,
    ) -> None:
        self.schedules = schedules
        self.store = store
        self.launch = launch
        self.clock = clock
        self.watch = watch  # file-arrival triggers, polled on each tick

    @property
    def active(self) -> bool:
        """Whether there is anything to schedule or watch (else no leadership is taken)."""
        return bool(self.schedules) or (self.watch is not None and bool(self.watch.triggers))

    def take_over(self) -> list[tuple[str, datetime]]:
        """What a scheduler does on becoming the leader: the runs a dead leader left running
        are marked abandoned (they no longer count against a limit), the slots it had
        taken but started no run for are queued again (those slots are returned), and the
        files a trigger claimed without starting a run are let go, to fire again."""
        from sqlalchemy import select, update

        from headgate.state.tables import schedule_slots

        self.store.abandon_dead_runs()
        names = [s.name for s in self.schedules]
        orphaned = (
            schedule_slots.c.schedule.in_(names),
            schedule_slots.c.state == "started",
            schedule_slots.c.run_id.is_(None),
        )
        with self.store.engine.begin() as conn:
            found = conn.execute(
                select(schedule_slots.c.schedule, schedule_slots.c.slot_at).where(*orphaned)
            ).all()
            if found:
                conn.execute(
                    update(schedule_slots).where(*orphaned).values(state="queued", started_at=None)
                )
        if self.watch is not None:
            self.watch.forget_unstarted()  # its new files start a run at the next poll
        return [(row[0], row[1]) for row in found]

    def wait_before_next(self, at_most: float) -> float:
        """Seconds to sleep before the next tick: until the soonest schedule's next slot
        (a few milliseconds after it), but at most ``at_most`` (file triggers, new leaders)."""
        now = self.clock()
        soonest = at_most
        for schedule in self.schedules:
            upcoming = schedule.next_slots(now, 1)
            if upcoming:
                soonest = min(soonest, (upcoming[0] - now).total_seconds() + 0.005)
        return max(0.0, soonest)

    def tick(self) -> Tick:
        """Queue the slots that came due, then start what each schedule's limit allows."""
        now = self.clock()
        done = Tick([], [], [])
        paused = self.store.paused_schedules()
        for schedule in self.schedules:
            if schedule.paused or schedule.name in paused:
                continue
            self._queue_due(schedule, now, done)
            self._start_queued(schedule, done)
        if self.watch is not None:
            done.triggered = self.watch.poll(paused)
        return done

    def _queue_due(self, schedule: ScheduleConfig, now: datetime, done: Tick) -> None:
        last = self.store.last_slot(schedule.name)
        if last is None:
            # a schedule seen for the first time starts from now: its past is not missed
            previous = _previous_slot(schedule, now)
            if previous is not None and self.store.claim_slot(
                schedule.name, previous, state="skipped" if now - previous > ON_TIME else "queued"
            ):
                target = done.skipped if now - previous > ON_TIME else done.queued
                target.append((schedule.name, previous))
            return
        due = schedule.slots_between(last, now)
        run, skip = _catch_up(schedule, due, now)
        for slot, state, target in [
            *((s, "skipped", done.skipped) for s in skip),
            *((s, "queued", done.queued) for s in run),
        ]:
            if self.store.claim_slot(schedule.name, slot, state=state):
                target.append((schedule.name, slot))

    def _start_queued(self, schedule: ScheduleConfig, done: Tick) -> None:
        room = schedule.max_concurrent - self.store.running_slots(schedule.name)
        for slot in self.store.schedule_slots(schedule.name, state="queued"):
            if room <= 0:
                return
            if not self.store.take_queued_slot(schedule.name, slot.slot_at):
                continue  # another scheduler started it
            self.launch(schedule, slot.slot_at)
            done.started.append((schedule.name, slot.slot_at))
            room -= 1


def _catch_up(
    schedule: ScheduleConfig, due: list[datetime], now: datetime
) -> tuple[list[datetime], list[datetime]]:
    """(slots to run, slots to skip), oldest first, by the schedule's catch-up policy."""
    if not due:
        return [], []
    if schedule.catch_up == "all":
        keep = due[-schedule.catch_up_limit :]
        return keep, due[: len(due) - len(keep)]
    newest = due[-1]
    if schedule.catch_up == "latest" or now - newest <= ON_TIME:
        return [newest], due[:-1]
    return [], due


def _previous_slot(schedule: ScheduleConfig, now: datetime) -> datetime | None:
    """The newest slot at or before ``now`` (one step back; a slot every second is no slower)."""
    return schedule.slot_before(now)


class Leadership:
    """Whether this process is the one scheduler that acts; taken and kept without waiting."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._lock: Lock | None = None
        self._connection: Any = None

    @property
    def held(self) -> bool:
        return self._lock is not None or self._connection is not None

    def try_take(self) -> bool:
        if self._connection is not None and not self._connection_alive():
            self._drop_connection()  # its advisory lock went with it: lead again only if free
        if self.held:
            return True
        if self.store.engine.dialect.name == "postgresql":
            return self._try_advisory()
        try:
            self._lock = self.store.acquire_lock(
                LEADER_LOCK, wait=False, description="the scheduler", heartbeat_every=5.0
            )
        except WarehouseBusy:
            return False
        return True

    def _connection_alive(self) -> bool:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self._connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def _drop_connection(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self._connection.invalidate()
        self._connection = None

    def _try_advisory(self) -> bool:
        from sqlalchemy import text

        connection = self.store.engine.connect()
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self._advisory_key()}
        ).scalar()
        if taken:
            self._connection = connection  # held open: the lock lives as long as it does
            return True
        connection.close()
        return False

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._connection is not None:
            from sqlalchemy import text

            self._connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": self._advisory_key()}
            )
            self._connection.close()
            self._connection = None

    def _advisory_key(self) -> int:
        """One key per metadata store (its schema), so projects sharing a server do not meet."""
        import hashlib

        schema = self.store.url_for_display + "|" + str(self.store.schema or "")
        digest = hashlib.blake2b(f"headgate scheduler|{schema}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big", signed=True)


def run_scheduler(
    scheduler: Scheduler,
    leadership: Leadership,
    stop: threading.Event,
    *,
    every: float = 1.0,
    before_tick: Callable[[], None] | None = None,
) -> None:
    """Tick every ``every`` seconds while this process leads; try to lead otherwise.

    ``before_tick`` runs first on each round (a hub reads its schedules and triggers
    afresh there); a process with nothing to schedule does not lead. The leader sleeps
    until the next slot when it comes before ``every``. On taking over, a leader settles
    what its dead predecessor left (:meth:`Scheduler.take_over`).
    """
    try:
        while not stop.is_set():
            if before_tick is not None:
                _quietly(before_tick)
            if not scheduler.active:
                leadership.release()  # nothing to schedule: leave leading to a replica that has
                stop.wait(every)
                continue
            was_leading = leadership.held
            if leadership.try_take():
                try:
                    if not was_leading:
                        scheduler.take_over()
                    scheduler.tick()
                except Exception:  # one bad tick must not stop the schedules
                    log.exception("scheduler tick failed")
            # wake at the next slot when it comes sooner: a slot starts within milliseconds
            stop.wait(scheduler.wait_before_next(every) if leadership.held else every)
    finally:
        leadership.release()


def _quietly(call: Callable[[], None]) -> None:
    try:
        call()
    except Exception:
        log.exception("reading the schedules again failed")


class SchedulerThread:
    """The scheduler loop on a thread of its own, for a long-lived process (the hub)."""

    def __init__(
        self,
        scheduler: Scheduler,
        leadership: Leadership,
        *,
        every: float = 1.0,
        before_tick: Callable[[], None] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.leadership = leadership
        self.stop_event = threading.Event()
        self._thread = threading.Thread(
            target=run_scheduler,
            args=(scheduler, leadership, self.stop_event),
            kwargs={"every": every, "before_tick": before_tick},
            name="headgate-scheduler",
            daemon=True,
        )

    @property
    def leading(self) -> bool:
        return self.leadership.held

    def start(self) -> SchedulerThread:
        self._thread.start()
        return self

    def stop(self, wait: float = 10.0) -> None:
        """Stop ticking and give up leadership (a replica takes over at its next try)."""
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout=wait)
