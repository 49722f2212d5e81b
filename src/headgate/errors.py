"""Errors a user can act on.

Every error headgate raises on purpose is a :class:`HeadgateError`. The CLI prints
its message without a traceback (unless ``--debug``). Like dlt, each error says
whether retrying can help (``transient``) or not (``terminal``), so the executor
and, later, agents know whether to try again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class HeadgateError(Exception):
    """Base of every error meant for a user. ``transient`` errors may succeed on retry."""

    transient: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


@dataclass(frozen=True)
class Location:
    """A place in a project file, 1-based line and column (0 when unknown)."""

    path: Path
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        text = str(self.path)
        if self.line:
            text += f":{self.line}"
            if self.column:
                text += f":{self.column}"
        return text


class ProjectError(HeadgateError):
    """Something wrong in the project's files: always names the file and, when known, the line."""

    def __init__(
        self, message: str, location: Location | None = None, *, hint: str | None = None
    ) -> None:
        self.location = location
        self.bare_message = message
        prefix = f"{location}: " if location else ""
        super().__init__(prefix + message, hint=hint)

    def __reduce__(self) -> tuple[object, ...]:
        # survives pickling (errors found while parsing in worker processes)
        return (_rebuild_project_error, (self.bare_message, self.location, self.hint))


class ProjectErrors(HeadgateError):
    """Several project errors found in one load, reported together so one fix-run cycle suffices."""

    def __init__(self, errors: list[ProjectError]) -> None:
        self.errors = errors
        lines = [e.render() for e in errors]
        super().__init__(f"{len(errors)} problem(s) in the project:\n" + "\n".join(lines))


class EngineError(HeadgateError):
    """The warehouse refused a statement (bad SQL at run time, a type error, ...)."""


class WarehouseBusy(HeadgateError):
    """Another process holds the warehouse or an environment lock; waiting may help."""

    transient = True


class StateError(HeadgateError):
    """The metadata store cannot be opened or is in an unexpected shape."""


def _rebuild_project_error(
    message: str, location: Location | None, hint: str | None
) -> ProjectError:
    return ProjectError(message, location, hint=hint)
