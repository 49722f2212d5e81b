"""What running a check tells a person: :class:`CheckResult`, and its record for the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headgate.checks.spec import Check
from headgate.state.records import CheckResultRecord

STATUSES = ("pass", "fail", "warn", "error")


@dataclass
class CheckResult:
    """One check's outcome.

    ``status``: ``pass``; ``fail`` (an error-severity check failed: publishing is blocked);
    ``warn`` (a warn-severity check failed: recorded, published anyway); ``error`` (the
    check could not be decided, e.g. its SQL failed; never counted as a pass).
    """

    check: Check
    status: str
    message: str
    threshold: str = ""
    failing_rows: int | None = None
    total_rows: int | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    sql: str | None = None
    seconds: float = 0.0
    failing_fraction: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.failing_rows is not None and self.total_rows:
            self.failing_fraction = self.failing_rows / self.total_rows

    @property
    def name(self) -> str:
        return self.check.name

    @property
    def model(self) -> str:
        return self.check.model

    @property
    def column(self) -> str | None:
        return self.check.column

    @property
    def type(self) -> str:
        return self.check.type

    @property
    def severity(self) -> str:
        return self.check.severity

    @property
    def blocking(self) -> bool:
        """Whether this outcome must stop publishing: a failed or undecided error-severity check."""
        return self.severity == "error" and self.status in ("fail", "error")

    def to_record(
        self, *, run_id: int | None = None, physical_table: str | None = None
    ) -> CheckResultRecord:
        """The store's record, with the sample's values made JSON-safe."""
        from headgate.state.quality import json_safe

        return CheckResultRecord(
            model=self.model,
            check_name=self.name,
            check_type=self.type,
            status=self.status,
            severity=self.severity,
            column=self.column,
            failing_rows=self.failing_rows,
            total_rows=self.total_rows,
            message=self.message,
            sample=[{str(k): json_safe(v) for k, v in row.items()} for row in self.sample],
            sql=self.sql,
            physical_table=physical_table,
            run_id=run_id,
        )
