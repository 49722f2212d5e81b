"""The runtime service: runs kept as task specs in the metadata store, carried out by any process.

``submit`` writes a plan down as data: the run's plan and one spec per task, each
``pending``. ``carry_out`` reads them back (in this process or another: the hub, its
scheduler, an agent) and executes them; tasks a previous attempt at the same run
finished are not done again, so a run handed over or resumed picks up where it stopped.
The command line is one client among others: ``Project.run`` submits, then carries out.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.observe.own import observe_run
from headgate.plan.planner import Plan
from headgate.runtime.results import BUILT, SKIPPED
from headgate.runtime.specs import node_from_spec, node_to_spec, plan_from_spec, plan_to_spec
from headgate.runtime.waits import task_waits
from headgate.state.records import TaskRecord

if TYPE_CHECKING:
    from headgate.console import Console
    from headgate.engines.base import Engine
    from headgate.plan.environments import Actor
    from headgate.project.loader import LoadedProject
    from headgate.runtime.audit import ProjectChecks
    from headgate.runtime.results import RunResult
    from headgate.runtime.run import RunOptions
    from headgate.state.store import StateStore

PENDING = "pending"


class RunService:
    def __init__(
        self,
        project: LoadedProject,
        store: StateStore,
        console: Console,
        checks: ProjectChecks | None = None,
    ) -> None:
        self.project = project
        self.store = store
        self.console = console
        self.checks = checks
        self._submitted: dict[int, Plan] = {}  # plans this service wrote, not yet carried out

    def submit(self, plan: Plan, run_id: int) -> None:
        """Write the plan down: the run's plan, and a pending spec for every task."""
        self._submitted[run_id] = plan
        data = plan_to_spec(plan)
        data["nodes"] = {n.name: node_to_spec(n) for n in plan.nodes.values() if not n.is_work}
        self.store.save_run_plan(run_id, data)
        self.store.record_tasks(
            [
                TaskRecord(
                    run_id=run_id,
                    name=node.name,
                    kind=node.kind,
                    status=PENDING,
                    fingerprint=node.fingerprint,
                    physical_table=node.physical_table,
                    spec=node_to_spec(node),
                    attempts=0,
                )
                for node in plan.work
            ]
        )

    def load(self, run_id: int) -> Plan:
        """The run's plan as the store holds it; tasks already done are done."""
        data = self.store.run_plan(run_id)
        run = self.store.get_run(run_id)
        if data is None or run is None:
            raise HeadgateError(
                f"run {run_id} has no plan in the metadata store",
                hint="only runs submitted to the runtime can be carried out or resumed",
            )
        nodes = {name: node_from_spec(spec) for name, spec in data.get("nodes", {}).items()}
        for task in run.tasks:
            if task.spec is None:
                continue
            node = node_from_spec(task.spec)
            if task.status in (BUILT, SKIPPED):
                node.action, node.reason = "reuse", f"done by run {run_id} already"
                node.exists = True
            nodes[node.name] = node
        return plan_from_spec(data, nodes)

    def carry_out(self, engine: Engine, run_id: int, options: RunOptions) -> RunResult:
        """Execute the run's pending tasks, then publish (see ``runtime/run.py``).

        A run this service has just submitted is carried out from the plan in hand, which
        is what its specs say (nothing of it has run yet); any other is read from the store.
        """
        from headgate.runtime.run import execute_plan

        submitted = self._submitted.pop(run_id, None)
        plan = submitted if submitted is not None else self.load(run_id)
        self.store.reopen_run(run_id, host=socket.gethostname(), pid=os.getpid())
        registry = self.store.physical_tables()
        return execute_plan(
            self.project,
            plan,
            engine,
            self.store,
            run_id,
            options,
            self.console,
            registry,
            self.checks,
        )

    def distribute(
        self, run_id: int, labels: dict[str, str], *, max_attempts: int = 3
    ) -> list[str]:
        """Queue the run's pending tasks for agents carrying ``labels``, in DAG order."""
        plan = self.load(run_id)
        work = {node.name for node in plan.work}
        waits = {n.name: task_waits(self.project, plan, self.checks, n) for n in plan.work}
        tasks = [
            (node.name, labels, [u for u in dict.fromkeys(waits[node.name]) if u in work])
            for node in plan.work
        ]
        self.store.enqueue_tasks(run_id, tasks, max_attempts=max_attempts)
        return [name for name, _, _ in tasks]

    def carry_out_task(self, engine: Engine, run_id: int, name: str, *, attempt: int = 1) -> str:
        """One task of the run, from its spec (an agent's work); the task's status."""
        from headgate.runtime.run import execute_task

        plan = self.load(run_id)
        result = execute_task(
            self.project, plan, name, engine, self.store, run_id, self.checks, attempt=attempt
        )
        return result.status

    def publish(self, engine: Engine, run_id: int, actor: Actor) -> bool:
        """Publish a run whose tasks agents carried out, if every one of them succeeded."""
        from headgate.runtime.run import publish_run

        plan = self.load(run_id)
        run = self.store.get_run(run_id, specs=False)
        assert run is not None
        failed = {t.name for t in run.tasks if t.status not in (BUILT, SKIPPED)}
        if failed:
            return False
        changed = publish_run(
            self.project, plan, engine, self.store, run_id, actor, failed, self.checks
        )
        return changed > 0


@dataclass
class RunOutcome:
    """How a recorded run ended; set by whoever carries it out, written when it closes."""

    status: str = "success"  # "success" | "failed"
    error: str | None = None
    published: bool = False


@contextmanager
def recorded_run(
    store: StateStore,
    *,
    environment: str,
    command: str,
    selection: str | None,
    user: str | None,
    git_commit: str | None,
    run_id: int | None = None,
) -> Iterator[tuple[int, RunOutcome]]:
    """A run's record from start to end: ``running``, then its outcome or ``failed``.

    One lifecycle for every kind of run (``run``, ``test``, a scheduled run, an agent's):
    an exception, even an interrupt, ends the record as failed with the error, and is
    raised again. ``run_id`` names a run already recorded (the hub records a run when it
    is asked for, so the caller has its id while it waits its turn).
    """
    if run_id is None:
        run_id = store.start_run(
            environment=environment,
            command=command,
            selection=selection,
            user=user,
            host=socket.gethostname(),
            pid=os.getpid(),
            git_commit=git_commit,
        )
    outcome = RunOutcome()
    try:
        yield run_id, outcome
    except BaseException as exc:
        store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        observe_run(store, run_id)
        raise
    error = outcome.error[:4000] if outcome.error else None
    store.finish_run(run_id, outcome.status, error=error, published=outcome.published)
    observe_run(store, run_id)  # its events: journeys, rules and alerts see headgate's runs
