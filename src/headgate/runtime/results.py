"""What a run reports: per task and for the whole run (also the shape of ``run --json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Statuses a user sees. "built" covers new builds, refreshes and incremental loads;
# "skipped" covers nodes that were already up to date or only needed publishing.
BUILT, SKIPPED, FAILED, UPSTREAM_FAILED = "built", "skipped", "failed", "upstream_failed"


@dataclass
class TaskResult:
    name: str
    kind: str
    status: str
    fingerprint: str
    physical_table: str
    action: str
    rows: int | None = None
    seconds: float = 0.0
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    checks: list[Any] = field(default_factory=list)  # CheckResult, when the model has checks

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "action": self.action,
            "rows": self.rows,
            "seconds": round(self.seconds, 4),
            "fingerprint": self.fingerprint,
        }
        if self.error:
            data["error"] = self.error
        if self.detail:
            data["detail"] = self.detail
        if self.checks:
            data["checks"] = [check_json(c) for c in self.checks]
        return data


def check_json(result: Any) -> dict[str, Any]:
    return {
        "name": result.name,
        "type": result.type,
        "column": result.column,
        "severity": result.severity,
        "status": result.status,
        "failing_rows": result.failing_rows,
        "total_rows": result.total_rows,
        "message": result.message,
    }


@dataclass
class RunResult:
    run_id: int | None
    environment: str
    status: str  # "success" | "failed" | "nothing_to_do"
    published: bool
    tasks: list[TaskResult]
    seconds: float = 0.0
    message: str = ""
    published_models: int = 0
    deliveries: list[Any] = field(default_factory=list)  # DeliveryResult, after publishing

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.tasks:
            counts[task.status] = counts.get(task.status, 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "environment": self.environment,
            "status": self.status,
            "published": self.published,
            "published_models": self.published_models,
            "seconds": round(self.seconds, 3),
            "message": self.message,
            "counts": self.counts(),
            "models": [t.to_json() for t in self.tasks],
            "deliveries": [d.to_dict() for d in self.deliveries],
        }
