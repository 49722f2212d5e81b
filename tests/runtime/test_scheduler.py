"""Schedules: each slot once however many schedulers tick, catch-up after downtime, a limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headgate import Project
from headgate.errors import ProjectError
from headgate.project.schedules import ScheduleConfig
from headgate.runtime.scheduler import Leadership, Scheduler
from headgate.state.store import StateStore
from tests.support import write_project

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Launches:
    """Records each launch and gives it a run in the store, running until finished."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.started: list[tuple[str, datetime, int]] = []

    def __call__(self, schedule: ScheduleConfig, slot: datetime) -> None:
        run_id = self.store.start_run(
            environment="prod",
            command="run",
            selection=None,
            user="t",
            host="h",
            pid=1,
            git_commit=None,
        )
        self.store.attach_slot_run(schedule.name, slot, run_id)
        self.started.append((schedule.name, slot, run_id))

    def finish_all(self) -> None:
        for _, _, run_id in self.started:
            self.store.finish_run(run_id, "success")

    @property
    def slots(self) -> list[datetime]:
        return [slot for _, slot, _ in self.started]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with StateStore.open(None, project_dir=tmp_path) as store:
        yield store


def hourly(**options: Any) -> ScheduleConfig:
    return ScheduleConfig.model_validate({"name": "hourly", "cron": "0 * * * *", **options})


def test_a_schedule_starts_from_now_and_runs_each_slot_once(store: StateStore) -> None:
    clock, launches = Clock(T0 + timedelta(seconds=5)), Launches(store)
    scheduler = Scheduler([hourly()], store, launches, clock=clock)
    scheduler.tick()
    scheduler.tick()
    assert launches.slots == [T0]  # seen 5 s after its slot: on time, run once
    launches.finish_all()
    clock.at = T0 + timedelta(hours=1, seconds=1)
    scheduler.tick()
    assert launches.slots == [T0, T0 + timedelta(hours=1)]


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [("none", []), ("latest", [6]), ("all", [1, 2, 3, 4, 5, 6])],
)
def test_after_downtime_catch_up_decides_what_missed_slots_become(
    store: StateStore, catch_up: str, expected: list[int]
) -> None:
    clock, launches = Clock(T0), Launches(store)
    schedule = hourly(catch_up=catch_up, max_concurrent=10)
    Scheduler([schedule], store, launches, clock=clock).tick()  # the first slot, at T0
    launches.finish_all()
    launches.started.clear()
    clock.at = T0 + timedelta(hours=6, minutes=30)  # down for six slots
    Scheduler([schedule], store, launches, clock=clock).tick()
    assert launches.slots == [T0 + timedelta(hours=h) for h in expected]
    states = {s.slot_at: s.state for s in store.schedule_slots("hourly")}
    assert sum(state == "skipped" for state in states.values()) == 6 - len(expected)


def test_the_concurrency_limit_holds_when_runs_take_longer_than_the_period(
    store: StateStore,
) -> None:
    clock, launches = Clock(T0), Launches(store)
    scheduler = Scheduler([hourly(catch_up="all", max_concurrent=1)], store, launches, clock=clock)
    scheduler.tick()
    for hours in (1, 2, 3):  # the first run is still going
        clock.at = T0 + timedelta(hours=hours, seconds=1)
        scheduler.tick()
    assert launches.slots == [T0]
    assert len(store.schedule_slots("hourly", state="queued")) == 3
    launches.finish_all()
    scheduler.tick()
    assert launches.slots == [T0, T0 + timedelta(hours=1)]  # the next one, in order


def test_two_schedulers_ticking_together_start_each_slot_once(
    store: StateStore, tmp_path: Path
) -> None:
    clock, launches = Clock(T0), Launches(store)
    with StateStore.open(None, project_dir=tmp_path) as other_store:
        schedule = hourly(catch_up="all", max_concurrent=100)
        first = Scheduler([schedule], store, launches, clock=clock)
        second = Scheduler([schedule], other_store, launches, clock=clock)
        for minutes in range(0, 24 * 60, 37):
            clock.at = T0 + timedelta(minutes=minutes)
            first.tick()
            second.tick()
    assert len(launches.slots) == len(set(launches.slots)) == 24


def test_a_paused_schedule_runs_nothing_until_resumed(store: StateStore) -> None:
    clock, launches = Clock(T0), Launches(store)
    scheduler = Scheduler([hourly(catch_up="none")], store, launches, clock=clock)
    store.pause_schedule("hourly", True, by="ops")
    scheduler.tick()
    assert launches.slots == []
    store.pause_schedule("hourly", False)
    clock.at = T0 + timedelta(hours=1)
    scheduler.tick()
    assert launches.slots == [T0 + timedelta(hours=1)]


def test_one_leader_and_a_takeover_when_it_dies(tmp_path: Path) -> None:
    """A leader process killed with SIGKILL: the other replica leads at its next try."""
    code = (
        "import sys, time; from pathlib import Path\n"
        "from headgate.state.store import StateStore\n"
        "from headgate.runtime.scheduler import Leadership\n"
        f"store = StateStore.open(None, project_dir=Path({str(tmp_path)!r}))\n"
        "assert Leadership(store).try_take(); print('leading', flush=True); time.sleep(600)\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert leader.stdout is not None and leader.stdout.readline().strip() == "leading"
        with StateStore.open(None, project_dir=tmp_path) as store:
            replica = Leadership(store)
            assert replica.try_take() is False  # exactly one acts
            os.kill(leader.pid, signal.SIGKILL)
            leader.wait()
            assert replica.try_take() is True  # the dead leader's lock is taken over
            replica.release()
    finally:
        leader.kill()


@pytest.mark.services
def test_on_postgresql_the_leader_holds_an_advisory_lock(postgres_url: str, tmp_path: Path) -> None:
    schema = f"hg_sched_{os.getpid()}_{int(time.time())}"
    with (
        StateStore.open(postgres_url, project_dir=tmp_path, schema=schema) as a,
        StateStore.open(postgres_url, project_dir=tmp_path, schema=schema) as b,
    ):
        first, second = Leadership(a), Leadership(b)
        assert first.try_take() and not second.try_take()
        first.release()  # unlocked (and, were its process dead, its connection gone): free
        assert second.try_take()
        second.release()
        with a.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


def test_a_scheduled_run_processes_its_slots_own_range(tmp_path: Path) -> None:
    files = {
        "models/raw/events.sql": (
            "select id, TIMESTAMP '2024-03-01' + (id * INTERVAL 1 HOUR) as ts from range(100) t(id)"
        ),
        "models/inc/events.sql": """
            /* headgate:
            materialized: incremental
            time_column: ts
            start: 2024-03-01
            interval: hour
            */
            select id, ts from raw.events
        """,
    }
    config = (
        "name: t\nschedules:\n  - {name: hourly, cron: '0 * * * *', catch_up: all, "
        "max_concurrent: 1, retries: 0}\n"
    )
    root = write_project(tmp_path, files, config=config)
    clock = Clock(datetime(2024, 3, 1, 5, 0, 1, tzinfo=UTC))
    with Project.load(root) as project:
        launched: list[datetime] = []

        def launch(schedule: ScheduleConfig, slot: datetime) -> None:
            launched.append(slot)
            project.run(schedule.environment, end=slot, slot=(schedule.name, slot))

        scheduler = project.scheduler(launch)
        scheduler.clock = clock
        scheduler.tick()  # first sight: the 05:00 slot
        clock.at = datetime(2024, 3, 1, 8, 0, 1, tzinfo=UTC)
        for _ in range(4):  # three missed slots, one at a time (limit 1)
            scheduler.tick()
        assert [t.hour for t in launched] == [5, 6, 7, 8]
        count = project.query("select count(*) as n from inc.events").to_pylist()
        statuses = project.schedules(now=clock.at)
    assert count == [{"n": 8}]  # hours 00:00 to 07:00: exactly up to the last slot's time
    assert statuses[0].last_state == "started" and statuses[0].last_run_id is not None
    assert [t.hour for t in statuses[0].next_slots] == [9, 10, 11]


def test_a_schedules_status_names_its_running_run_while_newer_slots_wait(
    tmp_path: Path,
) -> None:
    config = "name: t\nschedules:\n  - {name: hourly, cron: '0 * * * *', max_concurrent: 1}\n"
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x"}, config=config)
    clock = Clock(datetime(2024, 3, 1, 5, 0, 1, tzinfo=UTC))
    with Project.load(root) as project:
        launches = Launches(project.state)  # its runs keep running
        scheduler = project.scheduler(launches)
        scheduler.clock = clock
        scheduler.tick()  # the 05:00 slot starts
        clock.at = datetime(2024, 3, 1, 6, 0, 1, tzinfo=UTC)
        scheduler.tick()  # the 06:00 slot waits for it
        (status,) = project.schedules(now=clock.at)
    assert status.last_slot == datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    assert status.last_state == "queued"
    assert status.last_run_id == launches.started[0][2]  # the run that holds the slot


def test_a_bad_schedule_is_named_with_its_line(tmp_path: Path) -> None:
    config = "name: t\nschedules:\n  - name: nightly\n    cron: '0 25 * * *'\n"
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x"}, config=config)
    with pytest.raises(ProjectError) as caught:
        Project.load(root)
    shown = caught.value.render()
    assert "headgate.yml:4" in shown and "not a cron expression" in shown


def test_a_new_leader_queues_again_a_slot_the_dead_leader_took_but_never_started(
    store: StateStore,
) -> None:
    clock, launches = Clock(T0), Launches(store)
    schedule = hourly(catch_up="all", max_concurrent=1)
    assert store.claim_slot("hourly", T0, state="queued")
    assert store.take_queued_slot("hourly", T0)  # the leader died before its run was recorded
    successor = Scheduler([schedule], store, launches, clock=clock)
    successor.tick()
    assert launches.slots == []  # a started slot without a run holds the limit...
    assert successor.take_over() == [("hourly", T0)]  # ...until a new leader takes over
    successor.tick()
    assert launches.slots == [T0]


def test_a_run_started_on_a_thread_that_cannot_start_ends_failed_not_running(
    tmp_path: Path,
) -> None:
    config = "name: t\nschedules:\n  - {name: nightly, cron: '0 2 * * *', environment: dev}\n"
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x"}, config=config)
    with Project.load(root) as project:
        (root / "models" / "b.sql").write_text("select * from nowhere_at_all")  # now invalid
        run_id = project.trigger_schedule("nightly", project._run_in_thread, user="ops")
        deadline = time.monotonic() + 60  # only stops a hang
        while (record := project.state.get_run(run_id)) is not None and record.status == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert record is not None and record.status == "failed"
    assert record.user == "ops" and "nowhere_at_all" in (record.error or "")


@pytest.mark.services
def test_a_leader_whose_connection_was_cut_stops_leading(postgres_url: str, tmp_path: Path) -> None:
    schema = f"hg_sched_cut_{os.getpid()}_{int(time.time())}"
    with (
        StateStore.open(postgres_url, project_dir=tmp_path, schema=schema) as a,
        StateStore.open(postgres_url, project_dir=tmp_path, schema=schema) as b,
    ):
        first, second = Leadership(a), Leadership(b)
        assert first.try_take()
        held = first._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with b.engine.begin() as connection:  # the leader's session ends (a network cut, a DBA)
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(held)})")
        deadline = time.monotonic() + 30  # the server ends the session a moment later
        while not second.try_take():
            assert time.monotonic() < deadline, "the lock did not go with the session"
            time.sleep(0.05)
        assert first.try_take() is False  # and the old leader sees it has lost it
        second.release()
        with a.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


def test_a_schedule_without_a_timeout_of_its_own_is_bounded_by_task_timeout(
    tmp_path: Path,
) -> None:
    config = (
        "name: t\ntask_timeout: 7\nretries: 0\nschedules:\n"
        "  - {name: own, cron: '0 * * * *', environment: dev, timeout: 3, retries: 1}\n"
        "  - {name: inherits, cron: '0 * * * *', environment: dev}\n"
    )
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x"}, config=config)
    policies: dict[str, Any] = {}

    def start(environment: str, **options: Any) -> int:
        policies[str(options["user"])] = options["policy"]
        return 1

    with Project.load(root) as project:
        for name in ("own", "inherits"):
            project.trigger_schedule(name, start, user=name)
    assert policies["own"].timeout == 3 and policies["own"].attempts == 2
    assert policies["inherits"].timeout == 7  # the project's task_timeout
    assert policies["inherits"].attempts == 3  # a schedule's own retries default: 2
