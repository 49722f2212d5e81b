"""Planning and running: what changed, build it, audit it, publish it."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _git_commit, _user
from headgate.plan.environments import Actor
from headgate.plan.planner import Plan, PlanInputs, PlanRequest, make_plan

if TYPE_CHECKING:
    from headgate.engines.base import Engine
    from headgate.runtime.results import RunResult


class Building(ProjectBase):
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
            self._environment_lock(environment, doing="a run") as lock,
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
                    threads=threads or self.default_threads,
                    publish_partial=publish_partial,
                    actor=Actor(_user(), _git_commit(self.root)),
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
