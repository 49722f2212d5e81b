"""The hub's jobs: each change to the warehouse asked of it, queued, carried out, observed.

A job is one write (a run, a deploy, a rollback, an environment created or deleted, a
delivery): it waits in the hub's one writer lane, runs, and ends ``done``, ``failed``
or ``cancelled``. While it runs, what the facade reports through its console (tasks
started and finished, rows loaded, warnings) becomes the job's events, which the API
streams as server-sent events.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headgate.console import Console
from headgate.errors import HeadgateError

if TYPE_CHECKING:
    from headgate.facade import Project
    from headgate.plan.planner import Plan
    from headgate.runtime.results import RunResult, TaskResult

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
MAX_EVENTS = 20_000  # a job's events kept for late listeners; older ones are dropped

_ids = itertools.count(1)


class JobCancelled(HeadgateError):
    """A job was cancelled on request; the environment it wrote is left as it was."""


@dataclass
class Job:
    """One write the hub was asked for."""

    kind: str  # "run" | "deploy" | "rollback" | "env_create" | "env_delete" | "deliver"
    description: str
    work: Callable[[Project], dict[str, Any]]
    environment: str | None = None
    run_id: int | None = None
    id: int = field(default_factory=lambda: next(_ids))
    status: str = QUEUED
    result: dict[str, Any] | None = None
    error: str | None = None  # HeadgateError.render(), as the CLI prints it
    error_status: int = 400
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cancel_requested: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    dropped_events: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def emit(self, event: str, data: dict[str, Any]) -> None:
        with self._changed:
            self.events.append({"event": event, "at": time.time(), **data})
            if len(self.events) > MAX_EVENTS:
                extra = len(self.events) - MAX_EVENTS
                del self.events[:extra]
                self.dropped_events += extra
            self._changed.notify_all()

    def finish(self, status: str, *, result: dict[str, Any] | None = None) -> None:
        with self._changed:
            self.status = status
            self.result = result
            self.ended_at = datetime.now(UTC)
            self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job ends (at most ``timeout`` seconds); whether it has."""
        with self._changed:
            return self._changed.wait_for(lambda: self.status in FINISHED, timeout)

    def events_since(self, index: int, timeout: float) -> tuple[list[dict[str, Any]], int, bool]:
        """The events after the first ``index`` ever emitted (waiting up to ``timeout`` for
        one), the index to ask from next, and whether the job has ended."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.dropped_events + len(self.events) > index or self.status in FINISHED,
                timeout,
            )
            found = self.events[max(0, index - self.dropped_events) :]
            return list(found), self.dropped_events + len(self.events), self.status in FINISHED

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "environment": self.environment,
            "run_id": self.run_id,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "cancel_requested": self.cancel_requested,
        }


class HubConsole(Console):
    """The facade's console in the hub: reports become the running job's events.

    One writer at a time, so the job being carried out is the one reporting; reads report
    nothing worth keeping. A cancelled job is stopped here, at its next task boundary.
    """

    def __init__(self) -> None:
        self.job: Job | None = None

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.job is not None:
            self.job.emit(event, data)

    def _stop_if_cancelled(self) -> None:
        if self.job is not None and self.job.cancel_requested:
            raise JobCancelled(
                f"{self.job.description} was cancelled",
                hint="nothing was published; run it again when you want it",
            )

    def plan_ready(self, plan: Plan) -> None:
        work = [
            {"name": n.name, "kind": n.kind, "action": n.action, "reason": n.reason}
            for n in plan.work
        ]
        self._emit(
            "plan", {"environment": plan.environment, "work": work, "total": len(plan.nodes)}
        )

    def task_started(self, name: str) -> None:
        self._stop_if_cancelled()
        self._emit("task_started", {"name": name})

    def task_progress(self, name: str, rows: int) -> None:
        self._emit("task_progress", {"name": name, "rows": rows})

    def task_finished(self, result: TaskResult) -> None:
        self._emit("task_finished", result.to_json())
        self._stop_if_cancelled()

    def run_finished(self, result: RunResult) -> None:
        data = result.to_json()
        # which checks kept failing rows (the summary then says where to see them)
        data["samples"] = [c.name for t in result.tasks for c in t.checks if c.sample]
        self._emit("run_finished", data)

    def info(self, text: str) -> None:
        self._emit("log", {"level": "info", "text": text})

    def warn(self, text: str) -> None:
        self._emit("log", {"level": "warning", "text": text})

    def waiting(self, text: str) -> None:
        self._emit("log", {"level": "waiting", "text": text})
