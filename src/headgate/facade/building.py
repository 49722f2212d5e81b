"""Planning and running: what changed, build it, audit it, publish it."""

from __future__ import annotations

import os
from collections.abc import Collection
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _git_commit, _user
from headgate.facade.partial_runs import (
    leave_models_unbuilt,
    leave_unaudited,
    refuse_unloaded_sources,
)
from headgate.project.schedules import ALL_STEPS, STEPS, checked_includes, includes_text

if TYPE_CHECKING:  # the plan machinery (sqlglot) loads when a command plans, not for every one
    from headgate.engines.base import Engine
    from headgate.plan.impact import ImpactInputs, ModelImpact
    from headgate.plan.planner import Plan, PlanInputs
    from headgate.plan.review import Review
    from headgate.runtime.executor import RetryPolicy
    from headgate.runtime.results import RunResult
    from headgate.state.records import ModelVersion


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
        persist_reuse: bool = False,
        nonce: str | None = None,
        includes: Collection[str] = ALL_STEPS,
    ) -> Plan:
        from headgate.plan.planner import PlanInputs, PlanRequest, make_plan

        restate = [self._model_name(r) for r in restate or []]
        if restate and (start is None or end is None):
            raise HeadgateError(
                "--restate needs --start and --end", hint="e.g. --start 2024-06-01 --end 2024-07-01"
            )
        registry = self.state.physical_tables()
        existing = engine.existing_tables(self.loaded.config.physical_schema)
        ingest = "ingest" in includes
        inputs = PlanInputs(
            fingerprints=self.fingerprints if ingest else self._held_fingerprints(environment),
            env_models=self.state.env_models(environment),
            registry=registry,
            existing=existing,
            intervals={},
            physical_schema=self.loaded.config.physical_schema,
            now=datetime.now(UTC),
            check_hashes=dict(self.checks.hashes),
        )
        inputs.aliases = (
            self._reused_tables(inputs, environment, engine, persist=persist_reuse)
            if ingest
            else self._held_sources(environment)
        )
        request = PlanRequest(
            environment=environment,
            selected=self.select(selection) if selection else None,
            full_refresh=full_refresh,
            restate=restate,
            restate_start=start,
            restate_end=end,
            end=end if not restate else None,
            selection=selection,
            nonce=nonce or "plan",
            ingest=ingest,
        )
        plan = make_plan(self.loaded, inputs, request)
        plan.registry = registry
        if not ingest:
            refuse_unloaded_sources(plan)
        if "build" not in includes:
            leave_models_unbuilt(plan)
        if "checks" not in includes:
            leave_unaudited(plan)
        return plan

    def _held_sources(self, environment: str) -> dict[str, str]:
        """Each source -> the table ``environment`` reads it from now (a run without ingest)."""
        published = self.state.env_models(environment)
        return {
            name: published[name].physical_table
            for name in self.loaded.sources
            if name in published
        }

    def _held_fingerprints(self, environment: str) -> dict[str, str]:
        """Fingerprints with each source at the version ``environment`` publishes: a run that
        does not ingest builds its models from the sources' current tables, and names them so."""
        from headgate.plan.fingerprint import node_fingerprint

        published = self.state.env_models(environment)
        current = self.fingerprints
        held: dict[str, str] = {}
        for name in self.loaded.dag.order:
            if name in self.loaded.sources:
                pointer = published.get(name)
                held[name] = pointer.fingerprint if pointer is not None else current[name]
            elif name in self.loaded.models:
                held[name] = node_fingerprint(self.loaded, name, held)
            else:
                held[name] = current[name]
        return held

    def review(self, environment: str | None = None, *, selection: str | None = None) -> Review:
        """The plan a person reviews: impact per model and column, builds, checks."""
        from headgate.plan.deployments import state_hash
        from headgate.plan.environments import current_pointers
        from headgate.plan.review import Review

        environment = self._environment(environment)
        impacts = self.impact(environment)
        plan = self.plan(environment, selection=selection)
        state = state_hash(current_pointers(self.state, environment))
        review = Review(environment, state, impacts, plan, self.revision)
        review.built_in = self._built_by(plan)
        review.warnings = self._refused_files(plan) + self._unread_files()
        return review

    def _refused_files(self, plan: Plan) -> list[str]:
        """New files the run would refuse: they drift from a contract kept with schema_policy: fail."""
        from headgate.plan.naming import physical_table
        from headgate.sources.files import refused_files

        loads = [
            self.loaded.sources[n.name]
            for n in plan.work
            if n.name in self.loaded.sources and not self.loaded.sources[n.name].external
        ]
        if not loads:
            return []
        schema = self.loaded.config.physical_schema
        found: list[str] = []
        with self._engine(read_only=True) as engine:
            existing = engine.existing_tables(schema)
            for source in loads:
                view = physical_table(schema, source.name, self.fingerprints[source.name])
                found += [
                    f"the run will be refused: {drift} (schema_policy: fail); accept it in "
                    f"`columns` of {source.table} in sources/{source.declared_in.name}, or set "
                    "schema_policy: evolve or quarantine"
                    for drift in refused_files(engine.session(), source, self.root, view, existing)
                ]
        return found

    def _unread_files(self) -> list[str]:
        """A warning naming the data files beside a source's files that no source reads."""
        from headgate.project.datafiles import unread_data_files

        unread = unread_data_files(self.loaded)
        if not unread:
            return []
        shown = ", ".join(unread[:5]) + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
        return [
            f"{len(unread)} data file(s) match no source and will not be loaded: {shown} "
            "(add a table whose path matches them in sources/*.yml, or move them elsewhere)"
        ]

    def _built_by(self, plan: Plan) -> dict[str, str]:
        """Tables the plan reuses -> the run that built them, e.g. ``run 4 in dev``."""
        runs: dict[int, str] = {}
        found: dict[str, str] = {}
        for node in plan.nodes.values():
            record = plan.registry.get(node.physical_table) if node.action == "reuse" else None
            if record is None or record.run_id is None:
                continue
            if record.run_id not in runs:
                run = self.state.get_run(record.run_id)
                runs[record.run_id] = f"run {run.id} in {run.environment}" if run else ""
            if runs[record.run_id]:
                found[node.physical_table] = runs[record.run_id]
        return found

    @cached_property
    def deliveries(self) -> dict[str, Any]:
        """The project's deliveries (``deliveries/*.yml``); invalid files stop a command before it runs."""
        if not any((self.root / "deliveries").glob("*.y*ml")):
            return {}
        from headgate.deliveries.config import load_deliveries

        return load_deliveries(self.root)

    def deliver(
        self, environment: str | None = None, *, names: list[str] | None = None
    ) -> list[Any]:
        """Run deliveries against what ``environment`` publishes now (all, or the named ones)."""
        environment = self._environment(environment)
        chosen = self.deliveries
        if names:
            unknown = [n for n in names if n.lower() not in chosen]
            if unknown:
                raise HeadgateError(
                    f"no delivery named {unknown[0]}",
                    hint=f"deliveries: {', '.join(sorted(chosen)) or 'none'}",
                )
            chosen = {n.lower(): chosen[n.lower()] for n in names}
        return self._run_deliveries(environment, chosen, None, set(), [])

    def _deliver(self, environment: str, result: RunResult, run_id: int) -> list[Any]:
        blocked = {t.name for t in result.tasks if t.status in ("failed", "upstream_failed")}
        checks = [c for t in result.tasks for c in t.checks]
        return self._run_deliveries(environment, self.deliveries, run_id, blocked, checks)

    def _run_deliveries(
        self,
        environment: str,
        deliveries: dict[str, Any],
        run_id: int | None,
        blocked: set[str],
        checks: list[Any],
    ) -> list[Any]:
        from headgate.runtime.delivering import deliver

        with self._engine(read_only=True) as engine:
            database = getattr(engine, "path", None)
            return deliver(
                self.loaded,
                deliveries,
                engine,
                self.state,
                environment=environment,
                run_id=run_id,
                blocked=blocked,
                check_results=checks,
                database=database,
            )

    def impact(self, environment: str | None = None) -> list[ModelImpact]:
        """The impact review of the project against what ``environment`` publishes."""
        from headgate.plan.impact import analyse

        environment = self._environment(environment)
        with self._engine(read_only=True) as engine:
            return analyse(self.loaded, self._impact_inputs(environment, engine))

    def _impact_inputs(self, environment: str, engine: Engine) -> ImpactInputs:
        from headgate.plan.impact import ImpactInputs

        pointers = self.state.env_models(environment)
        wanted = list(self.fingerprints.values()) + [p.fingerprint for p in pointers.values()]
        versions = self.state.model_versions(wanted)
        checks = {m: [c.name for c in self.checks.of(m)] for m in self.loaded.models}
        return ImpactInputs(
            fingerprints=self.fingerprints,
            pointers=pointers,
            versions=versions,
            registry=self.state.physical_tables(),
            checks={m: names for m, names in checks.items() if names},
            incoming=self._incoming_files(engine, pointers),
        )

    def _incoming_files(
        self, engine: Engine, pointers: dict[str, Any]
    ) -> dict[str, list[list[str]]]:
        """Columns of file-source files not loaded yet, read from the files before loading them."""
        from headgate.plan.naming import physical_table
        from headgate.sources.files import incoming_columns

        found: dict[str, list[list[str]]] = {}
        schema = self.loaded.config.physical_schema
        existing = engine.existing_tables(schema)
        for name, source in self.loaded.sources.items():
            pointer = pointers.get(name)
            if source.external or pointer is None or pointer.fingerprint == self.fingerprints[name]:
                continue
            view = physical_table(schema, name, self.fingerprints[name])
            try:
                columns = incoming_columns(engine.session(), source, self.root, view, existing)
            except HeadgateError:
                continue  # unreadable files fail the run with their own message
            if columns:
                found[name] = [[c, t] for c, t in columns.items()]
        return found

    def _reused_tables(
        self, inputs: PlanInputs, environment: str, engine: Engine, *, persist: bool
    ) -> dict[str, str]:
        """Models whose new version provably holds the same data as the published one.

        Their fingerprint changed only because something upstream changed in columns they
        do not read: the published table is kept under the new fingerprint, not rebuilt.
        """
        from headgate.plan.impact import analyse
        from headgate.plan.naming import physical_table
        from headgate.state.records import ModelVersion

        known = self.state.model_versions(list(self.fingerprints.values()))
        aliases = {
            name: version.physical_table
            for name, fingerprint in self.fingerprints.items()
            if (version := known.get(fingerprint)) and version.physical_table in inputs.existing
        }
        pending = [
            name
            for name, fingerprint in self.fingerprints.items()
            if name in inputs.env_models
            and inputs.env_models[name].fingerprint != fingerprint
            and name not in aliases
            and physical_table(inputs.physical_schema, name, fingerprint) not in inputs.existing
        ]
        if not pending:
            return aliases
        fresh: list[ModelVersion] = []
        for impact in analyse(self.loaded, self._impact_inputs(environment, engine)):
            model = self.loaded.models.get(impact.name)
            if impact.reuses is None or impact.reuses not in inputs.existing or model is None:
                continue
            if model.options.materialized == "view":
                continue  # a view reads its upstream's old table: rebuilding it costs nothing
            aliases[impact.name] = impact.reuses
            old = inputs.env_models[impact.name].fingerprint
            columns = self.state.model_versions([old]).get(old)
            fresh.append(
                ModelVersion(
                    self.fingerprints[impact.name],
                    impact.name,
                    model.normalized if model.language == "sql" else None,
                    columns.columns if columns else [],
                    physical_table=impact.reuses,
                )
            )
        if persist and fresh:
            self.state.record_model_versions(fresh)
        return aliases

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
        run_id: int | None = None,
        policy: RetryPolicy | None = None,
        slot: tuple[str, datetime] | None = None,
        includes: Collection[str] | None = None,
    ) -> RunResult:
        """Build what changed, check nothing failed, then publish ``environment`` in one swap.

        ``run_id``: a run already recorded as asked for (the hub's queue), carried out now.
        ``policy``: retries and timeout other than the project's (a schedule's own).
        ``slot``: the (schedule, slot time) this run carries out, recorded with it.
        ``includes``: the steps the run does, of ingest, build, checks, publish and
        deliveries (default: all); publish needs checks, deliveries need publish.
        """
        from headgate.plan.environments import Actor
        from headgate.runtime.run import RunOptions
        from headgate.runtime.service import RunService, recorded_run

        environment = self._environment(environment)
        steps = checked_includes(includes)
        self.checks  # noqa: B018 - invalid checks stop the run before anything is built
        self.deliveries  # noqa: B018 - and so do invalid delivery files
        for warning in self._unread_files():
            self.console.warn(warning)
        store = self.state
        store.abandon_dead_runs()
        store.ensure_environment(environment, created_by=_user())
        with (
            self._environment_secrets(environment),
            self._environment_lock(environment, doing="a run") as lock,
            self._engine(read_only=False) as engine,
        ):
            recorded = recorded_run(
                store,
                environment=environment,
                command="run" + includes_text(steps),
                selection=selection,
                user=f"schedule {slot[0]}" if slot else _user(),
                git_commit=_git_commit(self.root),
                run_id=run_id,
            )
            with recorded as (run_id, outcome):
                self._audit(
                    "run.start",
                    environment=environment,
                    target=str(run_id),
                    detail={
                        "selection": selection,
                        "schedule": slot[0] if slot else None,
                        "includes": [s for s in STEPS if s in steps],
                    },
                )
                if slot is not None:
                    store.attach_slot_run(slot[0], slot[1], run_id)
                plan = self._plan(
                    engine,
                    environment,
                    persist_reuse=True,
                    nonce=str(run_id),
                    selection=selection,
                    full_refresh=full_refresh,
                    restate=restate,
                    start=start,
                    end=end,
                    includes=steps,
                )
                self.console.plan_ready(plan)
                options = RunOptions(
                    threads=threads or self.default_threads,
                    publish_partial=publish_partial,
                    actor=Actor(_user(), _git_commit(self.root)),
                    policy=policy or self.retry_policy,
                    includes=steps,
                )
                service = RunService(self.loaded, store, self.console, self.checks)
                service.submit(plan, run_id)
                result = service.carry_out(engine, run_id, options)
                lock.heartbeat()
                result.message = _run_message(result)
                errors = [
                    f"{t.name}: {t.error}" for t in result.tasks if t.error and t.status == "failed"
                ]
                outcome.status = "failed" if result.status == "failed" else "success"
                outcome.error = "\n".join(errors) or None
                outcome.published = result.published
        if result.published and "deliveries" in steps and self.deliveries:
            result.deliveries = self._deliver(environment, result, run_id)
        self.console.run_finished(result)
        return result

    @property
    def retry_policy(self) -> RetryPolicy:
        """``retries`` and ``task_timeout`` from headgate.yml."""
        from headgate.runtime.executor import RetryPolicy

        config = self.loaded.config
        return RetryPolicy(
            attempts=config.retries + 1, backoff=config.retry_backoff, timeout=config.task_timeout
        )

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
