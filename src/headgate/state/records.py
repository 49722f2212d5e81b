"""Plain records passed between the store and the domain (dataclasses, no ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class TaskRecord:
    """One task of a run: building a model or loading a source."""

    run_id: int
    name: str  # model or source table name, e.g. "staging.orders"
    kind: str  # "model" | "source"
    status: str  # "pending" | "running" | "built" | "skipped" | "failed" | "upstream_failed"
    fingerprint: str
    physical_table: str | None = None
    rows: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    seconds: float | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. intervals processed
    spec: dict[str, Any] | None = None  # what the task does (runtime/specs.py)
    attempts: int | None = None


@dataclass
class RunRecord:
    id: int
    environment: str
    status: str  # "running" | "success" | "failed" | "partial" | "abandoned"
    started_at: datetime
    ended_at: datetime | None = None
    command: str = "run"
    selection: str | None = None
    user: str | None = None
    host: str | None = None
    pid: int | None = None
    git_commit: str | None = None
    error: str | None = None
    published: bool = False
    tasks: list[TaskRecord] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # status -> number of tasks


@dataclass
class PhysicalRecord:
    """A physical table (or view) in the warehouse: one model at one fingerprint."""

    name: str  # qualified, e.g. "headgate_physical.staging__orders__1a2b3c4d5e6f"
    model: str
    fingerprint: str
    kind: str  # "table" | "view" | "incremental" | "source"
    rows: int | None = None
    data_version: int = 1
    inputs: dict[str, int] = field(
        default_factory=dict
    )  # upstream physical name -> data_version used
    created_at: datetime | None = None
    run_id: int | None = None
    audit_status: str | None = None  # "passed" | "failed" | None when no checks ran
    audit_hash: str | None = None  # fingerprint of the checks behind the verdict
    segments: list[dict[str, Any]] | None = None  # a version's segments (plan/versions.py)


@dataclass
class EnvModel:
    """What an environment points at for one model."""

    environment: str
    model: str
    fingerprint: str
    physical_table: str
    published_at: datetime | None = None
    run_id: int | None = None


@dataclass
class EnvironmentRecord:
    name: str
    created_at: datetime
    created_by: str | None = None
    from_environment: str | None = None
    updated_at: datetime | None = None
    models: int = 0


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open time range [start, end) already processed for an incremental table."""

    start: datetime
    end: datetime


@dataclass
class CheckResultRecord:
    """One check's outcome on one physical table, as the metadata store keeps it."""

    model: str
    check_name: str
    check_type: str
    status: str  # "pass" | "fail" | "warn" | "error"
    severity: str = "error"  # "error" | "warn"
    column: str | None = None
    failing_rows: int | None = None
    total_rows: int | None = None
    message: str = ""
    sample: list[dict[str, Any]] = field(default_factory=list)  # JSON-safe values
    sql: str | None = None
    physical_table: str | None = None
    run_id: int | None = None
    created_at: datetime | None = None
    id: int | None = None


@dataclass
class DeploymentRecord:
    """One change to what an environment publishes, with the full set it published after."""

    environment: str
    kind: str  # "run" | "deploy" | "rollback" | "create"
    pointers: dict[str, list[str]]  # model -> [fingerprint, physical table]
    from_environment: str | None = None
    username: str | None = None
    git_commit: str | None = None
    run_id: int | None = None
    rolled_back_to: int | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    id: int | None = None
    state: str | None = None  # "pending" until the store has the pointers; None once done


@dataclass
class ModelVersion:
    """What one fingerprint of a model was: its query and the columns it produced."""

    fingerprint: str
    model: str
    query: str | None
    columns: list[list[str]]  # [[name, type], ...]
    physical_table: str | None = None  # an older version's table this one reuses, if any
    created_at: datetime | None = None
