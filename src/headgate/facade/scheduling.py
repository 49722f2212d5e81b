"""Schedules: what runs by itself, when it runs next, pausing, and the scheduler loop."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _user

if TYPE_CHECKING:
    from headgate.project.schedules import ScheduleConfig
    from headgate.runtime.executor import RetryPolicy
    from headgate.runtime.scheduler import Launch, Scheduler


@dataclass
class ScheduleStatus:
    name: str
    cron: str
    timezone: str
    environment: str
    paused: bool
    next_slots: list[datetime] = field(default_factory=list)
    last_slot: datetime | None = None
    last_state: str | None = None
    last_run_id: int | None = None


class Scheduling(ProjectBase):
    def schedules(self, *, now: datetime | None = None) -> list[ScheduleStatus]:
        """Each schedule: paused or not, its next three slots, its last slot and run."""
        moment = now or datetime.now(UTC)
        paused = self.state.paused_schedules()
        found = []
        for schedule in self.loaded.config.schedules:
            upcoming = schedule.slots_between(moment, moment + timedelta(days=400))[:3]
            slots = self.state.schedule_slots(schedule.name)
            last = slots[-1] if slots else None
            found.append(
                ScheduleStatus(
                    name=schedule.name,
                    cron=schedule.cron,
                    timezone=schedule.timezone,
                    environment=schedule.environment,
                    paused=schedule.paused or schedule.name in paused,
                    next_slots=upcoming,
                    last_slot=last.slot_at if last else None,
                    last_state=last.state if last else None,
                    last_run_id=last.run_id if last else None,
                )
            )
        return found

    def pause_schedule(self, name: str, *, paused: bool = True) -> None:
        """Stop (or resume) a schedule's runs; slots that come due while paused never run."""
        self._schedule(name)
        self.state.pause_schedule(name, paused, by=_user())
        self._audit("schedule.pause" if paused else "schedule.resume", target=name)

    def scheduler(self, launch: Launch | None = None) -> Scheduler:
        """A scheduler over this project's schedules; by default each slot runs in a thread."""
        from headgate.runtime.scheduler import Scheduler

        return Scheduler(
            list(self.loaded.config.schedules), self.state, launch or self._launch_in_thread
        )

    def _launch_in_thread(self, schedule: ScheduleConfig, slot: datetime) -> None:
        root, schedule_policy = self.root, _policy(schedule)

        def run() -> None:
            from headgate.facade import Project

            with Project.load(root) as project:
                try:
                    project.run(
                        schedule.environment,
                        selection=schedule.select,
                        end=slot,
                        policy=schedule_policy,
                        slot=(schedule.name, slot),
                    )
                except HeadgateError as exc:  # recorded with the run; the scheduler goes on
                    project.console.warn(f"schedule {schedule.name} at {slot}: {exc.render()}")

        threading.Thread(target=run, name=f"headgate-{schedule.name}", daemon=True).start()

    def _schedule(self, name: str) -> ScheduleConfig:
        for schedule in self.loaded.config.schedules:
            if schedule.name == name:
                return schedule
        names = ", ".join(s.name for s in self.loaded.config.schedules) or "none"
        raise HeadgateError(f"no schedule named {name}", hint=f"schedules in headgate.yml: {names}")


def _policy(schedule: ScheduleConfig) -> RetryPolicy:
    from headgate.runtime.executor import RetryPolicy

    return RetryPolicy(
        attempts=schedule.retries + 1, backoff=schedule.retry_backoff, timeout=schedule.timeout
    )
