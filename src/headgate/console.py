"""The one channel for user-facing output.

The domain reports what happens through a :class:`Console`; the terminal, a JSON
printer and (later) a web page each render it their own way. The base class
prints nothing, which is what a library caller gets by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headgate.plan.planner import Plan
    from headgate.runtime.results import RunResult, TaskResult


class Console:
    """Receives events; every method may be overridden, none must be."""

    def plan_ready(self, plan: Plan) -> None:
        """A plan was made; ``plan.work`` is what the run is about to do."""

    def task_started(self, name: str) -> None:
        """A task began (a model build, a source load)."""

    def task_progress(self, name: str, rows: int) -> None:
        """A long task moved ``rows`` rows so far (a source load, batch by batch)."""

    def task_finished(self, result: TaskResult) -> None:
        """A task ended, whatever its status."""

    def run_finished(self, result: RunResult) -> None:
        """A run ended: built, published or not, with every task's result."""

    def info(self, text: str) -> None:
        """A line worth telling a person (where to look, what was skipped)."""

    def warn(self, text: str) -> None:
        """Something went wrong but the command goes on."""

    def waiting(self, text: str) -> None:
        """The command is blocked on another process (a lock) and is waiting."""


class RecordingConsole(Console):
    """Keeps every event as text: useful in tests and for embedding."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    def warn(self, text: str) -> None:
        self.lines.append("warning: " + text)

    def waiting(self, text: str) -> None:
        self.lines.append(text)

    def task_progress(self, name: str, rows: int) -> None:
        self.lines.append(f"{name}: {rows:,} rows so far")

    def task_finished(self, result: TaskResult) -> None:
        self.lines.append(f"{result.name}: {result.status}")
