"""``headgate.Project``: the one facade the CLI and the server wrap.

Each method is one thing a user does (plan, run, query, look at runs); it opens
the warehouse and the metadata store for as long as it needs them and reports
through the injected :class:`~headgate.console.Console`.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.console import Console
from headgate.errors import HeadgateError
from headgate.plan.fingerprint import fingerprints
from headgate.plan.naming import valid_environment, view_name
from headgate.plan.planner import Plan, PlanInputs, PlanRequest, make_plan
from headgate.project.loader import LoadedProject, find_root, load_project
from headgate.project.selection import select

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.engines.base import Engine
    from headgate.runtime.audit import ProjectChecks
    from headgate.runtime.checking import CheckReport
    from headgate.runtime.results import RunResult
    from headgate.state.records import CheckResultRecord, RunRecord
    from headgate.state.store import StateStore


@dataclass
class ModelStatus:
    name: str
    kind: str
    materialized: str
    state: str  # "up to date" | "changed" | "not published"
    fingerprint: str
    published_fingerprint: str | None
    rows: int | None
    published_at: datetime | None


@dataclass
class EnvironmentStatus:
    environment: str
    models: list[ModelStatus]
    last_run: RunRecord | None
    counts: dict[str, int] = field(default_factory=dict)


class Project:
    """A loaded project and the operations on it."""

    def __init__(
        self, loaded: LoadedProject, *, console: Console | None = None, state_url: str | None = None
    ) -> None:
        self.loaded = loaded
        self.console = console or Console()
        self._state_url = state_url or loaded.config.state_url

    @classmethod
    def load(
        cls, path: str | Path = ".", *, console: Console | None = None, state_url: str | None = None
    ) -> Project:
        """Load the project at ``path`` or the nearest folder above it holding headgate.yml."""
        return cls(load_project(find_root(Path(path))), console=console, state_url=state_url)

    @property
    def root(self) -> Path:
        return self.loaded.root

    @property
    def name(self) -> str:
        return self.loaded.config.name

    @cached_property
    def fingerprints(self) -> dict[str, str]:
        return fingerprints(self.loaded)

    @cached_property
    def checks(self) -> ProjectChecks:
        """Every model's declared and custom checks; invalid ones stop a command before it runs."""
        from headgate.runtime.audit import ProjectChecks

        return ProjectChecks.load(self.loaded)

    @cached_property
    def state(self) -> StateStore:
        from headgate.state.store import StateStore

        schema = os.environ.get("HEADGATE_STATE_SCHEMA") or self.loaded.config.state_schema
        return StateStore.open(self._state_url, project_dir=self.root, schema=schema)

    def close(self) -> None:
        if "state" in self.__dict__:
            self.state.close()
            del self.__dict__["state"]

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- selection and planning -------------------------------------------------------

    def select(self, expression: str) -> set[str]:
        tags = {name: m.options.tags for name, m in self.loaded.models.items()}
        paths = {name: str(m.path.with_suffix("")) for name, m in self.loaded.models.items()}
        paths.update({name: f"sources/{s.source}" for name, s in self.loaded.sources.items()})
        return select(self.loaded.dag, expression, tags=tags, paths=paths)

    def plan(self, environment: str | None = None, **request: Any) -> Plan:
        """What a run would do in ``environment``, without doing it."""
        environment = self._environment(environment)
        with self._engine(read_only=True) as engine:
            return self._plan(engine, environment, **request)

    def _plan(
        self,
        engine: Engine,
        environment: str,
        *,
        selection: str | None = None,
        full_refresh: bool = False,
        restate: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Plan:
        restate = [self._model_name(r) for r in restate or []]
        if restate and (start is None or end is None):
            raise HeadgateError(
                "--restate needs --start and --end", hint="e.g. --start 2024-06-01 --end 2024-07-01"
            )
        registry = self.state.physical_tables()
        existing = engine.existing_tables(self.loaded.config.physical_schema)
        inputs = PlanInputs(
            fingerprints=self.fingerprints,
            env_models=self.state.env_models(environment),
            registry=registry,
            existing=existing,
            intervals={},
            physical_schema=self.loaded.config.physical_schema,
            now=datetime.now(UTC),
            check_hashes=dict(self.checks.hashes),
        )
        inputs.intervals = self._intervals(inputs)
        request = PlanRequest(
            environment=environment,
            selected=self.select(selection) if selection else None,
            full_refresh=full_refresh,
            restate=restate,
            restate_start=start,
            restate_end=end,
            end=end if not restate else None,
            selection=selection,
        )
        plan = make_plan(self.loaded, inputs, request)
        plan.registry = registry
        return plan

    def _intervals(self, inputs: PlanInputs) -> dict[str, Any]:
        from headgate.plan.naming import physical_table

        found = {}
        for name, model in self.loaded.models.items():
            if model.options.materialized == "incremental" and model.options.time_column:
                table = physical_table(inputs.physical_schema, name, inputs.fingerprints[name])
                if table in inputs.existing:
                    found[table] = self.state.intervals(table)
        return found

    # --- running ------------------------------------------------------------------------

    def run(
        self,
        environment: str | None = None,
        *,
        selection: str | None = None,
        threads: int | None = None,
        full_refresh: bool = False,
        restate: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        publish_partial: bool = False,
    ) -> RunResult:
        """Build what changed, check nothing failed, then publish ``environment`` in one swap."""
        from headgate.runtime.run import RunOptions, execute_plan

        environment = self._environment(environment)
        self.checks  # noqa: B018 - invalid checks stop the run before anything is built
        store = self.state
        store.abandon_dead_runs()
        store.ensure_environment(environment, created_by=_user())
        with (
            store.acquire_lock(
                f"environment:{environment}",
                description=f"a run by {_user()}",
                on_wait=lambda h: self.console.waiting(
                    f"environment {environment} busy: {h.description} (pid {h.pid} on {h.host}) "
                    "is writing, waiting…"
                ),
            ) as lock,
            self._engine(read_only=False) as engine,
        ):
            run_id = store.start_run(
                environment=environment,
                command="run",
                selection=selection,
                user=_user(),
                host=socket.gethostname(),
                pid=os.getpid(),
                git_commit=_git_commit(self.root),
            )
            try:
                plan = self._plan(
                    engine,
                    environment,
                    selection=selection,
                    full_refresh=full_refresh,
                    restate=restate,
                    start=start,
                    end=end,
                )
                self.console.plan_ready(plan)
                options = RunOptions(
                    threads=threads or self.default_threads, publish_partial=publish_partial
                )
                result = execute_plan(
                    self.loaded,
                    plan,
                    engine,
                    store,
                    run_id,
                    options,
                    self.console,
                    plan.registry,
                    self.checks,
                )
                lock.heartbeat()
            except BaseException as exc:
                store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
                raise
            result.message = _run_message(result)
            errors = [
                f"{t.name}: {t.error}" for t in result.tasks if t.error and t.status == "failed"
            ]
            store.finish_run(
                run_id,
                "failed" if result.status == "failed" else "success",
                error="\n".join(errors)[:4000] or None,
                published=result.published,
            )
        self.console.run_finished(result)
        return result

    @property
    def default_threads(self) -> int:
        return self.loaded.config.threads or max(4, os.cpu_count() or 1)

    # --- reading ------------------------------------------------------------------------

    def query(
        self, sql: str, environment: str | None = None, *, limit: int | None = None
    ) -> pa.Table:
        """Run a read-only query against an environment's views (models read by their names)."""
        from headgate.runtime.query import environment_query

        environment = self._environment(environment)
        published = self.state.env_models(environment)
        if not published:
            raise HeadgateError(
                f"environment {environment} has nothing published yet",
                hint=f"build it first: headgate run --env {environment}",
            )
        rewritten = environment_query(
            sql, {name: view_name(name, environment) for name in published}, limit=limit
        )
        with self._engine(read_only=True) as engine:
            return engine.session().arrow(rewritten)

    def test(self, environment: str | None = None, *, selection: str | None = None) -> CheckReport:
        """Run the checks of what ``environment`` publishes, building nothing; recorded as a run."""
        from headgate.runtime.checking import check_environment

        environment = self._environment(environment)
        checks = self.checks
        models = self.select(selection) if selection else None
        store = self.state
        run_id = store.start_run(
            environment=environment,
            command="test",
            selection=selection,
            user=_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            git_commit=_git_commit(self.root),
        )
        try:
            with self._engine(read_only=True) as engine:
                result = check_environment(
                    self.loaded,
                    checks,
                    engine,
                    store,
                    environment=environment,
                    models=models,
                    run_id=run_id,
                )
        except BaseException as exc:
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        failed = [f"{r.name}: {r.message}" for r in result.results if r.blocking]
        failed += [f"{m}: {e}" for m, e in result.errors.items()]
        store.finish_run(
            run_id, "success" if result.ok else "failed", error="\n".join(failed)[:4000] or None
        )
        return result

    def failures(self, check_name: str) -> CheckResultRecord:
        """The latest result of a check, with its sample of failing rows."""
        record = self.state.latest_check_result(check_name)
        if record is None:
            known = sorted({c.name for checks in self.checks.by_model.values() for c in checks})
            import difflib

            close = difflib.get_close_matches(check_name, known, n=3)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else "run `headgate run` or `headgate test` first"
            )
            raise HeadgateError(f"no result recorded for check '{check_name}'", hint=hint)
        return record

    def runs(self, *, limit: int = 20, environment: str | None = None) -> list[RunRecord]:
        return self.state.list_runs(limit=limit, environment=environment)

    def run_detail(self, run_id: int) -> RunRecord:
        record = self.state.get_run(run_id)
        if record is None:
            raise HeadgateError(f"no run {run_id}", hint="list runs with: headgate runs")
        return record

    def status(self, environment: str | None = None) -> EnvironmentStatus:
        """Each model's state in an environment: up to date, changed since published, or not published."""
        environment = self._environment(environment)
        pointers = self.state.env_models(environment)
        registry = self.state.physical_tables()
        models = []
        for name in self.loaded.dag.order:
            model = self.loaded.models.get(name)
            pointer = pointers.get(name)
            current = self.fingerprints[name]
            state = (
                "not published"
                if pointer is None
                else ("up to date" if pointer.fingerprint == current else "changed")
            )
            record = registry.get(pointer.physical_table) if pointer else None
            models.append(
                ModelStatus(
                    name=name,
                    kind="model" if model else "source",
                    materialized=model.options.materialized if model else "source",
                    state=state,
                    fingerprint=current,
                    published_fingerprint=pointer.fingerprint if pointer else None,
                    rows=record.rows if record else None,
                    published_at=pointer.published_at if pointer else None,
                )
            )
        counts: dict[str, int] = {}
        for m in models:
            counts[m.state] = counts.get(m.state, 0) + 1
        return EnvironmentStatus(environment, models, self.state.last_run(environment), counts)

    # --- helpers ------------------------------------------------------------------------

    def _environment(self, environment: str | None) -> str:
        name = environment or self.loaded.config.default_environment
        if not valid_environment(name):
            raise HeadgateError(
                f"'{name}' is not a valid environment name",
                hint="start with a letter; use letters, digits, '-' or '_'",
            )
        return name

    def _model_name(self, name: str) -> str:
        lowered = name.lower()
        if lowered not in self.loaded.models:
            import difflib

            close = difflib.get_close_matches(lowered, list(self.loaded.models), n=3)
            raise HeadgateError(
                f"no model named '{name}'",
                hint=f"did you mean {', '.join(close)}?" if close else None,
            )
        return lowered

    @contextmanager
    def _engine(self, *, read_only: bool) -> Iterator[Engine]:
        from headgate.engines import open_engine

        engine = open_engine(
            self.loaded.config.engine, self.root, read_only=read_only, on_wait=self.console.waiting
        )
        try:
            yield engine
        finally:
            engine.close()


def _user() -> str:
    try:
        return os.environ.get("HEADGATE_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _git_commit(root: Path) -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None


def _run_message(result: RunResult) -> str:
    counts = result.counts()
    built = counts.get("built", 0)
    failed = counts.get("failed", 0) + counts.get("upstream_failed", 0)
    env = result.environment
    if result.status == "nothing_to_do":
        return f"{env} is up to date: nothing to build"
    if failed and not result.published:
        return f"{failed} model(s) did not build; {env} was left exactly as it was"
    if failed:
        return f"{failed} model(s) did not build; published {result.published_models} whose upstream all succeeded"
    return (
        f"built {built} model(s); {env} published"
        if result.published
        else f"built {built} model(s)"
    )
