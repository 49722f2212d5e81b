"""Schedules: what runs by itself, when it runs next, pausing, and the scheduler loop."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _user
from headgate.project.schedules import STEPS

if TYPE_CHECKING:
    from headgate.project.schedules import ScheduleConfig, TriggerConfig
    from headgate.runtime.executor import RetryPolicy
    from headgate.runtime.scheduler import Launch, Scheduler, SchedulerThread

# Start a run: (environment, selection=, user=, **Project.run's options) -> its run id.
StartRun = Callable[..., int]


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
    kind: str = "cron"  # "cron" | "files" (a trigger: a new file in ``files`` starts a run)
    files: str | None = None
    includes: list[str] = field(default_factory=lambda: list(STEPS))  # what a run does
    agents: dict[str, Any] | None = None  # where its runs go: {labels, sites} (None: the hub)


class Scheduling(ProjectBase):
    def schedules(self, *, now: datetime | None = None) -> list[ScheduleStatus]:
        """Each schedule: paused or not, its next three slots, its last slot and run; then
        each file trigger, with its last run."""
        from headgate.runtime.triggers import last_fired

        moment = now or datetime.now(UTC)
        paused = self.state.paused_schedules()
        found = []
        for schedule in self.loaded.config.schedules:
            upcoming = schedule.next_slots(moment, 3)
            slots = self.state.schedule_slots(schedule.name)
            last = slots[-1] if slots else None
            last_run = next((s.run_id for s in reversed(slots) if s.run_id is not None), None)
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
                    last_run_id=last_run,  # the newest run, though newer slots may wait
                    includes=list(schedule.includes),
                    agents=_agents_json(schedule),
                )
            )
        for trigger in self.loaded.config.triggers:
            fired = last_fired(self.state, trigger.name)
            found.append(
                ScheduleStatus(
                    name=trigger.name,
                    cron="",
                    timezone="",
                    environment=trigger.environment,
                    paused=trigger.paused or trigger.name in paused,
                    last_slot=fired[1] if fired else None,
                    last_state="started" if fired else None,
                    last_run_id=fired[0] if fired else None,
                    kind="files",
                    files=trigger.files,
                    includes=list(trigger.includes),
                    agents=_agents_json(trigger),
                )
            )
        return found

    def pause_schedule(self, name: str, *, paused: bool = True) -> None:
        """Stop (or resume) a schedule's runs; slots that come due while paused never run."""
        self._schedule(name)
        self.state.pause_schedule(name, paused, by=_user())
        self._audit("schedule.pause" if paused else "schedule.resume", target=name)

    def scheduler(
        self, launch: Launch | None = None, *, start_run: StartRun | None = None
    ) -> Scheduler:
        """A scheduler over this project's schedules and file triggers.

        ``launch`` starts a slot's run itself (tests); otherwise each run is started by
        ``start_run`` (the hub queues it in its writer lane), by default on a thread of
        this process.
        """
        from headgate.runtime.scheduler import Scheduler
        from headgate.runtime.triggers import FileWatch

        start = start_run or self._run_in_thread

        def launch_slot(schedule: ScheduleConfig, slot: datetime) -> None:
            run_id = start(
                schedule.environment,
                selection=schedule.select,
                user=f"schedule {schedule.name}",
                end=slot,
                policy=_policy(schedule, self.loaded.config.task_timeout),
                slot=(schedule.name, slot),
                **_routing(schedule),
            )
            self.state.attach_slot_run(schedule.name, slot, run_id)

        def fire(trigger: TriggerConfig, files: list[str]) -> int:
            return start(
                trigger.environment,
                selection=trigger.selection,
                user=f"trigger {trigger.name}",
                policy=_policy(trigger, self.loaded.config.task_timeout),
                **_routing(trigger),
            )

        config = self.loaded.config
        watch = FileWatch(list(config.triggers), self.state, fire, self.loaded)
        return Scheduler(list(config.schedules), self.state, launch or launch_slot, watch=watch)

    def start_scheduling(self, start_run: StartRun, *, every: float = 1.0) -> SchedulerThread:
        """The scheduler loop on a thread (the hub's): it leads when no replica does, reads
        the schedules and triggers afresh each round, and starts runs with ``start_run``."""
        from headgate.runtime.scheduler import Leadership, SchedulerThread

        scheduler = self.scheduler(start_run=start_run)

        def refresh() -> None:
            config = self.loaded.config
            scheduler.schedules = list(config.schedules)
            if scheduler.watch is not None:
                scheduler.watch.triggers = list(config.triggers)
                scheduler.watch.project = self.loaded

        thread = SchedulerThread(
            scheduler, Leadership(self.state), every=every, before_tick=refresh
        )
        return thread.start()

    def trigger_schedule(self, name: str, start_run: StartRun, *, user: str | None = None) -> int:
        """Start a run of schedule (or trigger) ``name`` now, outside its slots; its run id."""
        found = self._schedule(name)
        run_id = start_run(
            found.environment,
            selection=found.selection,
            user=user or _user(),
            policy=_policy(found, self.loaded.config.task_timeout),
            **_routing(found),
        )
        self._audit("schedule.trigger", environment=found.environment, target=name)
        return run_id

    def _run_in_thread(
        self, environment: str, *, selection: str | None, user: str, **options: Any
    ) -> int:
        """Record a run now and carry it out on a thread of its own (its own Project).

        A run for agents needs the hub (it plans, queues and publishes such runs): here it
        is recorded as failed, saying so.
        """
        from headgate.facade import Project
        from headgate.facade.base import _git_commit
        from headgate.project.schedules import includes_text

        agents = options.pop("agents", None)
        run_id = self.state.start_run(
            environment=environment,
            command="run" + includes_text(options.get("includes") or STEPS),
            selection=selection,
            user=user,
            host=socket.gethostname(),
            pid=os.getpid(),
            git_commit=_git_commit(self.root),
        )
        root, store, console = self.root, self.state, self.console
        if agents is not None:
            error = (
                f"{user}: its runs go to agents, and only the hub hands runs to agents: run the "
                "schedules in `headgate serve`, or drop `agents:` from the schedule"
            )
            console.warn(error)
            store.finish_run(run_id, "failed", error=error)
            return run_id

        def run() -> None:
            try:
                with Project.load(root) as project:
                    project.run(environment, selection=selection, run_id=run_id, **options)
            except Exception as exc:  # the run's record says how it ended; the scheduler goes on
                error = exc.render() if isinstance(exc, HeadgateError) else f"{exc!r}"
                console.warn(f"{user}: run {run_id}: {error}")
                record = store.get_run(run_id)
                if record is not None and record.status == "running":
                    store.finish_run(run_id, "failed", error=error[:4000])

        threading.Thread(target=run, name=f"headgate-run-{run_id}", daemon=True).start()
        return run_id

    def _schedule(self, name: str) -> ScheduleConfig | TriggerConfig:
        config = self.loaded.config
        every: list[ScheduleConfig | TriggerConfig] = [*config.schedules, *config.triggers]
        for schedule in every:
            if schedule.name == name:
                return schedule
        names = ", ".join(s.name for s in every) or "none"
        raise HeadgateError(
            f"no schedule named {name}",
            hint=f"schedules and triggers in headgate.yml: {names}",
        )


def _routing(schedule: ScheduleConfig | TriggerConfig) -> dict[str, Any]:
    """The run's steps, and the agents it goes to (when the schedule names them)."""
    return {"includes": list(schedule.includes), "agents": schedule.agents}


def _agents_json(schedule: ScheduleConfig | TriggerConfig) -> dict[str, Any] | None:
    return None if schedule.agents is None else schedule.agents.model_dump(mode="json")


def _policy(schedule: ScheduleConfig | TriggerConfig, task_timeout: float | None) -> RetryPolicy:
    """The schedule's retries and timeout; without a ``timeout:`` of its own, the project's
    ``task_timeout`` bounds its tasks as it bounds every other run's."""
    from headgate.runtime.executor import RetryPolicy

    timeout = schedule.timeout if schedule.timeout is not None else task_timeout
    return RetryPolicy(
        attempts=schedule.retries + 1, backoff=schedule.retry_backoff, timeout=timeout
    )
