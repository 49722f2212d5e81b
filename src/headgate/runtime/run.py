"""One run: plan -> tasks -> executor -> publish.

Publishing swaps the environment's views in one transaction, and by default
only when every task succeeded, so readers never see a mix of old and new.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from headgate.console import Console
from headgate.engines.base import Engine, EngineSession
from headgate.faults import step
from headgate.observe.openlineage_out import emit_run
from headgate.plan.environments import Actor, apply_pointers, current_pointers
from headgate.plan.planner import REJECTS_SUFFIX, Plan, PlannedNode
from headgate.project.loader import LoadedProject
from headgate.project.schedules import ALL_STEPS
from headgate.runtime.audit import ProjectChecks
from headgate.runtime.executor import RetryPolicy, Task, execute, guarded
from headgate.runtime.recorder import Recorder
from headgate.runtime.results import FAILED, UPSTREAM_FAILED, RunResult, TaskResult
from headgate.runtime.steps import RUNNING, refresh_fed_source, run_step, step_key
from headgate.runtime.tasks import BuildContext, failed_result, run_node, skipped_result
from headgate.runtime.waits import task_waits
from headgate.sources.files import rejects_table
from headgate.state.records import PhysicalRecord

if TYPE_CHECKING:
    from headgate.state.store import StateStore


@dataclass
class RunOptions:
    threads: int
    publish_partial: bool = False
    actor: Actor = field(default_factory=Actor)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    # the steps the run does (project/schedules.py STEPS): without "checks" nothing is
    # audited (and nothing may publish), without "publish" what is built waits unpublished
    includes: frozenset[str] = ALL_STEPS


def execute_plan(
    project: LoadedProject,
    plan: Plan,
    engine: Engine,
    store: StateStore,
    run_id: int,
    options: RunOptions,
    console: Console,
    registry: dict[str, PhysicalRecord],
    checks: ProjectChecks | None = None,
) -> RunResult:
    started = time.perf_counter()
    engine.ensure_schema(project.config.physical_schema)
    recorder = Recorder(store)
    checks = checks if "checks" in options.includes else None
    ctx = BuildContext(
        project,
        plan,
        engine,
        recorder,
        run_id,
        registry,
        checks,
        progress=console.task_progress,
    )
    try:
        _adopt_unregistered(ctx)
        tasks = {node.name: _task(ctx, node) for node in plan.work}
        results = execute(
            tasks,
            threads=options.threads,
            on_start=console.task_started,
            on_finish=console.task_finished,
            policy=options.policy,
        )
        ordered = [
            _final_result(ctx, node, results)
            for node in plan.nodes.values()
            if node.action != "excluded"
        ]
        failed = [r for r in ordered if r.status in (FAILED, UPSTREAM_FAILED)]
        published = 0
        # every version's record is written before any environment may point at it
        recorder.close()
        step("records written")
        if "publish" in options.includes and (not failed or options.publish_partial):
            published = _publish(ctx, store, {r.name for r in failed}, options.actor)
    finally:
        recorder.close()
    status = "failed" if failed else ("success" if plan.work or published else "nothing_to_do")
    seconds = time.perf_counter() - started
    result = RunResult(run_id, plan.environment, status, published > 0, ordered, seconds)
    result.published_models = published
    emit_run(project, plan, store, result)  # OpenLineage, posted by a thread of its own
    return result


def _task(ctx: BuildContext, node: PlannedNode, *, first_attempt: int = 1) -> Task:
    """The executor's handle on one node: run it, fail it, interrupt its running query.

    ``first_attempt``: the number of its first try here (an agent's lease may be a retry)."""
    sessions: list[EngineSession] = []

    def attempt() -> int:
        return first_attempt + len(task.attempts)

    def run() -> TaskResult:
        if node.kind == "step":  # an external step: a child process, no warehouse session
            return run_step(ctx, node, attempt=attempt())
        sessions.append(ctx.engine.session())  # the worker thread's own session
        if node.after:
            refresh_fed_source(ctx, node)
        return run_node(ctx, node, attempt=attempt())

    def failed(status: str, error: str) -> TaskResult:
        return failed_result(ctx, node, status, error, attempt=attempt())

    def interrupt() -> None:
        for session in sessions:
            session.interrupt()
        if node.kind == "step":
            RUNNING.stop(step_key(ctx.run_id, node.name))

    task = Task(node.name, _waits_for(ctx, node), run, failed, interrupt)
    return task


def _waits_for(ctx: BuildContext, node: PlannedNode) -> list[str]:
    """Its upstream, its steps, and the models its checks read that this run builds too
    (:func:`headgate.runtime.waits.task_waits`)."""
    waits = task_waits(ctx.project, ctx.plan, ctx.checks, node)
    ctx.waits[node.name] = set(waits)
    return waits


def _final_result(
    ctx: BuildContext, node: PlannedNode, results: dict[str, TaskResult]
) -> TaskResult:
    return results.get(node.name) or skipped_result(ctx, node)


def _adopt_unregistered(ctx: BuildContext) -> None:
    """Tables the warehouse holds but the store does not know (a crash between the two): keep them."""
    for node in ctx.plan.nodes.values():
        if node.kind == "step":
            continue  # a step leaves no table
        if node.exists and node.physical_table not in ctx.registry:
            inputs = {ctx.physical_of(u): 1 for u in node.upstream}
            record = PhysicalRecord(
                name=node.physical_table,
                model=node.name,
                fingerprint=node.fingerprint,
                kind=node.materialized,
                data_version=1,
                inputs=inputs,
                run_id=ctx.run_id,
                segments=node.version.to_json() if node.version is not None else None,
            )
            ctx.registry[node.physical_table] = record
            ctx.recorder.physical(record)


def _publish(ctx: BuildContext, store: StateStore, failed: set[str], actor: Actor) -> int:
    """Swap the environment's views; returns how many changed (added, repointed or dropped)."""
    plan = ctx.plan
    target = current_pointers(store, plan.environment)
    blocked = set(failed) | ctx.project.dag.descendants(failed)
    existing = ctx.engine.existing_tables(ctx.project.config.physical_schema)
    for node in plan.nodes.values():
        if node.kind == "step":
            continue  # a step publishes nothing
        if node.action != "excluded" and node.name not in blocked:
            target[node.name] = (node.fingerprint, node.physical_table)
            rejects = rejects_table(node.physical_table)
            if node.kind == "source" and rejects in existing:
                target[node.name + REJECTS_SUFFIX] = (node.fingerprint, rejects)
    for name in plan.removed:
        target.pop(name, None)
    change = apply_pointers(
        ctx.engine, store, plan.environment, target, kind="run", actor=actor, run_id=ctx.run_id
    )
    return change.count


def execute_task(
    project: LoadedProject,
    plan: Plan,
    name: str,
    engine: Engine,
    store: StateStore,
    run_id: int,
    checks: ProjectChecks | None = None,
    *,
    attempt: int = 1,
    registry: dict[str, PhysicalRecord] | None = None,
    schema_made: bool = False,
) -> TaskResult:
    """One task of a run, in whichever process was handed it (an agent): built, recorded.

    Its upstream tasks are done (the queue hands a task out only then), and the plan says
    what they built, so the task reads exactly the tables its run will publish. It reads
    the records of its own and its upstream tables only (``registry``, or fetched from
    ``store`` as it asks for them), never every physical table. It is tried as the run's
    policy says (the plan's: retries after a transient error, stopped past its timeout),
    as a task of a local run is; a plan that says none tries it once, unbounded.
    ``schema_made``: an earlier task made the physical schema through this ``engine``.
    """
    if not schema_made:
        engine.ensure_schema(project.config.physical_schema)
    recorder = Recorder(store)
    if registry is None:
        registry = task_registry(store, plan, name)
    ctx = BuildContext(project, plan, engine, recorder, run_id, registry, checks)
    task = _task(ctx, plan.nodes[name], first_attempt=attempt)
    try:
        return guarded(task, plan.policy or RetryPolicy(attempts=1))
    finally:
        recorder.close()


def task_registry(store: StateStore, plan: Plan, name: str) -> dict[str, PhysicalRecord]:
    """The physical records one task needs, read at once; any other is fetched when asked."""
    from headgate.runtime.hub_store import PhysicalRegistry, task_tables
    from headgate.state.agents import database, physical_named

    db = database(store)
    names = task_tables(plan, name)
    held = physical_named(db, names, name)
    return PhysicalRegistry(held, lambda more: physical_named(db, more, None), names)


def publish_run(
    project: LoadedProject,
    plan: Plan,
    engine: Engine,
    store: StateStore,
    run_id: int,
    actor: Actor,
    failed: set[str],
    checks: ProjectChecks | None = None,
) -> int:
    """Publish a run whose tasks others carried out; how many views changed."""
    ctx = BuildContext(
        project, plan, engine, Recorder(store), run_id, store.physical_tables(), checks
    )
    try:
        return _publish(ctx, store, failed, actor)
    finally:
        ctx.recorder.close()
