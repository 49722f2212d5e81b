"""The metadata store's one entry point, :class:`StateStore`.

Everything headgate remembers between commands lives here: runs and tasks, physical
tables, environments' pointers, incremental intervals, the locks that keep two runs
from writing one environment at once, and what the data looked like (check results,
profiles, per-run metrics). Records go in and out as plain dataclasses
(:mod:`headgate.state.records`); no SQLAlchemy object leaks to the domain.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from headgate.state import catalog, charts, guarded, history, quality, queue, runs, slots
from headgate.state import intervals as interval_math
from headgate.state.database import Database, resolve_url
from headgate.state.guarded import AuditEntry, StoredSecret
from headgate.state.locks import HEARTBEAT_SECONDS, Lock, LockHolder, acquire
from headgate.state.migrate import ensure_current
from headgate.state.queue import Lease
from headgate.state.records import (
    CheckResultRecord,
    DeploymentRecord,
    EnvironmentRecord,
    EnvModel,
    Interval,
    ModelVersion,
    PhysicalRecord,
    RunRecord,
    TaskRecord,
)
from headgate.state.slots import Slot
from headgate.state.sqltypes import now

__all__ = ["Lock", "LockHolder", "StateStore", "now"]


class StateStore:
    """Runs, physical tables, environments, intervals and locks, on SQLite or PostgreSQL."""

    def __init__(self, db: Database, *, migrated: bool) -> None:
        self._db = db
        self.migrated = migrated
        """Whether opening this store had to create or upgrade its tables."""

    @classmethod
    def open(cls, url: str | None, *, project_dir: Path, schema: str | None = None) -> StateStore:
        """Open (creating or migrating if needed) the store at ``url``.

        Without a URL, ``HEADGATE_STATE_URL`` decides, else ``.headgate/state.db`` in the
        project. ``schema`` places the tables in one PostgreSQL schema (ignored on SQLite).
        """
        db = Database(resolve_url(url, project_dir), schema)
        try:
            migrated = ensure_current(db)
        except BaseException:
            db.dispose()
            raise
        return cls(db, migrated=migrated)

    @property
    def url_for_display(self) -> str:
        """The store's URL with any password shown as ``***``."""
        return self._db.display_url

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema the store's tables live in (None on SQLite)."""
        return self._db.schema

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for maintenance and tests; the domain uses the methods."""
        return self._db.engine

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # runs

    def start_run(
        self,
        *,
        environment: str,
        command: str,
        selection: str | None,
        user: str | None,
        host: str | None,
        pid: int | None,
        git_commit: str | None,
    ) -> int:
        """Record a run as 'running' and return its id (shown to users as "run 41")."""
        return runs.start_run(
            self._db,
            environment=environment,
            command=command,
            selection=selection,
            user=user,
            host=host,
            pid=pid,
            git_commit=git_commit,
        )

    def finish_run(
        self, run_id: int, status: str, *, error: str | None = None, published: bool = False
    ) -> None:
        runs.finish_run(self._db, run_id, status, error, published)

    def record_tasks(self, tasks: list[TaskRecord]) -> None:
        """Upsert tasks by (run_id, name), all in one transaction."""
        runs.record_tasks(self._db, tasks)

    def list_runs(self, *, limit: int = 20, environment: str | None = None) -> list[RunRecord]:
        """Newest first, with task counts per status but without the tasks themselves."""
        return runs.list_runs(self._db, limit, environment)

    def save_run_plan(self, run_id: int, plan: dict[str, Any]) -> None:
        """The run's plan as data (runtime/specs.py), for whichever process carries it out."""
        runs.save_plan(self._db, run_id, plan)

    def run_plan(self, run_id: int) -> dict[str, Any] | None:
        return runs.plan_of(self._db, run_id)

    def reopen_run(self, run_id: int, *, host: str, pid: int) -> None:
        runs.reopen_run(self._db, run_id, host=host, pid=pid)

    def get_run(self, run_id: int, *, specs: bool = True) -> RunRecord | None:
        """The run with its tasks in start order, or None if there is no such run
        (without ``specs``, the tasks' specs are left unread)."""
        return runs.get_run(self._db, run_id, specs=specs)

    def recent_tasks(self, names: Collection[str], environment: str) -> list[TaskRecord]:
        """The tasks of ``names`` (steps) in the environment's recent runs, newest first."""
        from headgate.state.steptasks import recent_tasks

        return recent_tasks(self._db, names, environment)

    def last_run(self, environment: str | None = None) -> RunRecord | None:
        """The newest run (of ``environment`` if given), with its tasks."""
        run_id = runs.last_run_id(self._db, environment)
        return None if run_id is None else runs.get_run(self._db, run_id)

    def abandon_dead_runs(self) -> list[int]:
        """Mark runs whose process died as 'abandoned' so they stop showing as running."""
        return runs.abandon_dead_runs(self._db)

    # physical tables

    def register_physical(self, records: list[PhysicalRecord]) -> None:
        """Upsert by name, all in one transaction."""
        catalog.register_physical(self._db, records)

    def physical_tables(self) -> dict[str, PhysicalRecord]:
        """Every physical table, keyed by name, read in one query."""
        return catalog.physical_tables_by_name(self._db)

    def builds_of(self, model: str, *, limit: int = 10) -> list[PhysicalRecord]:
        """The physical tables of ``model``, newest first (not the whole registry)."""
        return catalog.builds_of(self._db, model, limit)

    def task_seconds(self, name: str, run_ids: list[int]) -> dict[int, float | None]:
        """Run id -> how long the task ``name`` took in it (not the runs' other tasks)."""
        return runs.task_seconds(self._db, name, run_ids)

    def published_rows(self, environment: str) -> dict[str, int | None]:
        """The row counts of the physical tables ``environment`` points at, by table name
        (what a status shows, without reading the whole registry)."""
        return catalog.published_rows(self._db, environment)

    def drop_physical(self, names: list[str]) -> None:
        """Forget these physical tables and their intervals."""
        catalog.drop_physical(self._db, names)

    # environments

    def ensure_environment(
        self, name: str, *, created_by: str | None = None, from_environment: str | None = None
    ) -> None:
        """Create the environment's record if missing (pointers are copied by publishing)."""
        catalog.ensure_environment(self._db, name, created_by, from_environment)

    def list_environments(self) -> list[EnvironmentRecord]:
        """All environments by name, each with its number of models."""
        return catalog.list_environments(self._db)

    def env_models(self, environment: str) -> dict[str, EnvModel]:
        """What ``environment`` points at, keyed by model name."""
        return catalog.env_models_of(self._db, environment)

    def publish(
        self, environment: str, models: list[EnvModel], removed: list[str], run_id: int | None
    ) -> None:
        """Repoint ``models``, delete ``removed`` and stamp the environment, atomically."""
        catalog.publish(self._db, environment, models, removed, run_id)

    def complete_deployment(
        self,
        deployment_id: int,
        environment: str,
        models: list[EnvModel],
        removed: list[str],
        run_id: int | None,
    ) -> None:
        """The pointers of a pending deployment, and its completion, in one transaction."""
        catalog.publish(self._db, environment, models, removed, run_id, deployment_id)

    def pending_deployments(self) -> list[DeploymentRecord]:
        """Deployments begun (the views may or may not have been swapped) but not completed."""
        return history.pending_deployments(self._db)

    def delete_environment(self, name: str) -> None:
        catalog.delete_environment(self._db, name)

    # incremental intervals

    def intervals(self, physical_table: str) -> list[Interval]:
        """The time ranges ``physical_table`` holds, sorted and merged."""
        return catalog.intervals_of(self._db, physical_table)

    def add_interval(self, physical_table: str, start: datetime, end: datetime) -> None:
        """Record [start, end) as processed, merged with what is already there."""
        added = catalog.interval(start, end)
        catalog.change_intervals(self._db, physical_table, lambda held: [*held, added])

    def remove_interval(self, physical_table: str, start: datetime, end: datetime) -> None:
        """Forget [start, end) so it is processed again; may split a stored interval."""
        hole = catalog.interval(start, end)
        catalog.change_intervals(
            self._db, physical_table, lambda held: interval_math.subtract(held, hole)
        )

    def clear_intervals(self, physical_table: str) -> None:
        catalog.change_intervals(self._db, physical_table, lambda held: [])

    # locks

    def acquire_lock(
        self,
        name: str,
        *,
        wait: bool = True,
        timeout: float = 3600,
        on_wait: Callable[[LockHolder], None] | None = None,
        description: str | None = None,
        heartbeat_every: float | None = HEARTBEAT_SECONDS,
    ) -> Lock:
        """Take lock ``name``, waiting while a live process holds it.

        ``on_wait`` is told the holder once, before waiting starts, so a user sees why
        nothing happens. ``description`` (e.g. "run 41 by alice") is what other waiters
        see. The returned lock renews its heartbeat every ``heartbeat_every`` seconds in a
        background thread (None: the caller calls :meth:`Lock.heartbeat` itself).
        Raises :class:`headgate.errors.WarehouseBusy` when not waiting or on timeout.
        """
        return acquire(
            self._db,
            name,
            description=description,
            wait=wait,
            timeout=timeout,
            on_wait=on_wait,
            heartbeat_every=heartbeat_every,
        )

    # schedules

    def claim_slot(self, schedule: str, slot_at: datetime, *, state: str) -> bool:
        """Record a schedule's slot once; False when it exists already (another replica)."""
        return slots.claim_slot(self._db, schedule, slot_at, state)

    def last_slot(self, schedule: str) -> datetime | None:
        return slots.last_slot(self._db, schedule)

    def schedule_slots(self, schedule: str, *, state: str | None = None) -> list[Slot]:
        return slots.slots(self._db, schedule, state=state)

    def take_queued_slot(self, schedule: str, slot_at: datetime) -> bool:
        """Move a queued slot to started; False when another scheduler took it first."""
        return slots.take_queued(self._db, schedule, slot_at)

    def attach_slot_run(self, schedule: str, slot_at: datetime, run_id: int) -> None:
        slots.attach_run(self._db, schedule, slot_at, run_id)

    def running_slots(self, schedule: str) -> int:
        """How many of the schedule's runs are still running."""
        return slots.running_count(self._db, schedule)

    def pause_schedule(self, schedule: str, paused: bool, *, by: str | None = None) -> None:
        slots.set_paused(self._db, schedule, paused, by)

    def paused_schedules(self) -> set[str]:
        return slots.paused(self._db)

    # the task queue (agents)

    def enqueue_tasks(
        self,
        run_id: int,
        tasks: list[tuple[str, dict[str, str], list[str]]],
        *,
        max_attempts: int = 3,
    ) -> None:
        """Queue a run's tasks for agents: (name, labels required, tasks done before it)."""
        queue.enqueue(self._db, run_id, tasks, max_attempts=max_attempts)

    def claim_task(self, agent: str, labels: dict[str, str], lease: timedelta) -> Lease | None:
        from headgate.state import claims

        return claims.claim(self._db, agent, labels, lease)

    def heartbeat_task(self, lease_id: int, fence: int, lease: timedelta) -> tuple[bool, bool]:
        return queue.heartbeat(self._db, lease_id, fence, lease)

    def complete_task(
        self, lease_id: int, fence: int, *, ok: bool, error: str | None = None
    ) -> bool:
        return queue.complete(self._db, lease_id, fence, ok=ok, error=error)

    def expire_leases(self) -> list[int]:
        return queue.expire(self._db)

    def cancel_queued(self, run_id: int) -> None:
        queue.cancel(self._db, run_id)

    def queue_states(self, run_id: int) -> dict[str, str]:
        return queue.states(self._db, run_id)

    def queue_attempts(self, run_id: int) -> dict[str, int]:
        return queue.attempts(self._db, run_id)

    # secrets (ciphertext only) and the audit log

    def put_secret(self, environment: str, name: str, ciphertext: str, by: str | None) -> None:
        guarded.put_secret(self._db, environment, name, ciphertext, by)

    def stored_secrets(self) -> list[StoredSecret]:
        return guarded.stored_secrets(self._db)

    def delete_secret(self, environment: str, name: str) -> bool:
        return guarded.delete_secret(self._db, environment, name)

    def append_audit(
        self, entry: dict[str, Any], chain: Callable[[str, dict[str, Any]], str]
    ) -> AuditEntry:
        return guarded.append_audit(self._db, entry, chain)

    def audit_entries(
        self,
        *,
        actor: str | None = None,
        environment: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        return guarded.audit_entries(
            self._db, actor=actor, environment=environment, action=action, since=since, limit=limit
        )

    # check results, profiles and metrics

    def record_check_results(self, run_id: int | None, results: list[CheckResultRecord]) -> None:
        """Append one audit's results in one transaction, each stamped with ``run_id``."""
        quality.record_check_results(self._db, run_id, results)

    def check_results(
        self,
        *,
        run_id: int | None = None,
        model: str | None = None,
        status: str | None = None,
        limit: int = 200,
    ) -> list[CheckResultRecord]:
        """Recorded results, newest first, optionally of one run, one model, one status."""
        return quality.list_check_results(self._db, run_id, model, status, limit)

    def latest_results_on(self, tables: dict[str, str]) -> list[CheckResultRecord]:
        """The newest result of each check on each of ``tables`` (physical table -> model),
        newest first, in one query."""
        return quality.latest_on_tables(self._db, tables)

    def latest_check_result(self, check_name: str) -> CheckResultRecord | None:
        """The newest result of the check called ``check_name``, or None."""
        return quality.latest_check_result(self._db, check_name)

    def save_profile(
        self, model: str, physical_table: str, profile: dict[str, Any], rows: int
    ) -> int:
        """Keep a profile of ``physical_table`` (values made JSON-safe); returns its id."""
        return quality.save_profile(self._db, model, physical_table, profile, rows)

    def latest_profile(self, model: str) -> dict[str, Any] | None:
        """The newest profile of ``model``: the saved mapping plus ``id``, ``physical_table``,
        ``created_at`` (aware UTC) and ``rows`` (these four overwrite same-named keys).
        """
        return quality.latest_profile(self._db, model)

    def record_metrics(
        self,
        run_id: int | None,
        model: str,
        physical_table: str | None,
        metrics: dict[str, float],
    ) -> None:
        """Append one value per metric for this run (NaN and infinities are skipped)."""
        quality.record_metrics(self._db, run_id, model, physical_table, metrics)

    def metric_history(
        self, model: str, metric: str, limit: int = 50
    ) -> list[tuple[int, datetime, float]]:
        """The newest ``limit`` values, oldest first, as (run id, recorded at, value).

        The run id is 0 for a value recorded outside a run.
        """
        return quality.metric_history(self._db, model, metric, limit)

    def previous_row_count(self, model: str) -> float | None:
        """The latest recorded ``row_count`` metric of ``model`` (the previous audited run,
        when read before this run records its own), or None if there is none.
        """
        return quality.latest_metric(self._db, model, "row_count")

    def kept_chart(self, model: str, key: str) -> str | None:
        """The chart picked for a monitor of ``model`` (``key``: its metric and direction)
        from its history and kept, if one was."""
        return charts.kept_chart(self._db, model, key)

    def keep_chart(self, model: str, key: str, chart: str, reason: str) -> None:
        """Keep the chart picked for a monitor, so that it judges by it from now on."""
        charts.keep_chart(self._db, model, key, chart, reason)

    # deployments

    def record_deployment(self, record: DeploymentRecord) -> int:
        """Append one change of an environment's published set; returns its id."""
        return history.record_deployment(self._db, record)

    def deployments(
        self, *, environment: str | None = None, limit: int = 20, since: datetime | None = None
    ) -> list[DeploymentRecord]:
        """Newest first; ``since`` keeps those made at or after a time (the janitor's window)."""
        return history.list_deployments(self._db, environment=environment, limit=limit, since=since)

    def get_deployment(self, deployment_id: int) -> DeploymentRecord | None:
        return history.get_deployment(self._db, deployment_id)

    def record_many_metrics(
        self, batches: list[tuple[int | None, str, str | None, dict[str, float]]]
    ) -> None:
        """Several models' metrics in one transaction: (run_id, model, physical_table, metrics)."""
        quality.record_many_metrics(self._db, batches)

    # model versions

    def record_model_versions(self, records: list[ModelVersion]) -> None:
        """Remember each built fingerprint's query and columns (kept once per fingerprint)."""
        history.record_model_versions(self._db, records)

    def model_versions(self, fingerprints: list[str]) -> dict[str, ModelVersion]:
        return history.get_model_versions(self._db, fingerprints)

    # source cursors

    def source_cursor(self, physical_table: str) -> dict[str, Any] | None:
        """The high-water mark of an incremental source table, as stored (value and type)."""
        return history.get_cursor(self._db, physical_table)

    def set_source_cursor(self, physical_table: str, cursor: dict[str, Any]) -> None:
        """Advance the mark; called only after the rows up to it were committed."""
        history.set_cursor(self._db, physical_table, cursor)

    # loaded files

    def record_loaded_files(self, physical_table: str, files: list[dict[str, Any]]) -> None:
        """Files just committed into the table: path, size, content_hash, rows, rejected."""
        history.record_loaded_files(self._db, physical_table, files)
