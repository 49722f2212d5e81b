"""Runs carried out by agents: the hub plans them, queues their tasks, follows and publishes.

A run for agents is planned at the hub and written down as task specs (the runtime
service's ``submit``); each task is queued with the labels an agent must carry to take
it: the run's labels, and for the tasks a site's selection names, that site's labels too.
So one run can span sites, each task on the agents of its site, in DAG order. The hub's
writer lane then follows the run: leases past their end go back to the queue, each task's
end is told to the run's followers, and when every task is done the hub publishes the
environment once, under its lock. Cancelling the run cancels what is queued; agents
holding a task hear it at their next heartbeat.

The queue and the run's plan live in the metadata store, so a hub restarted in the middle
of a run follows it again (:func:`resume`): the agents kept working, or waited for the
hub, meanwhile.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headgate.server.jobs import Job, JobCancelled
from headgate.state import agents, queue

if TYPE_CHECKING:
    from headgate.facade import Project
    from headgate.server.hub import Hub

log = logging.getLogger("headgate.hub")

FOLLOW_SECONDS = 0.1  # how often the hub looks at a followed run's queue
SWEEP_SECONDS = 1.0  # how often it sends leases past their end back to the queue
FINISHED = ("done", "failed", "cancelled")


@dataclass
class Placement:
    """Where a run's tasks go: labels every task asks for, and per site selection more."""

    labels: dict[str, str] = field(default_factory=dict)
    sites: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (selection, labels)
    max_attempts: int = 3
    full_refresh: bool = False


def start(
    hub: Hub,
    environment: str | None,
    placement: Placement,
    *,
    selection: str | None = None,
    user: str | None = None,
) -> Job:
    """Record a run now, and queue in the writer lane: plan it, queue its tasks, follow it."""
    from headgate.facade.base import _git_commit, _user

    env = hub.project._environment(environment)
    for expression, _ in placement.sites:
        hub.project.select(expression)  # an unknown name is refused before anything is queued
    run_id = hub.store.start_run(
        environment=env,
        command="run (agents)",
        selection=selection,
        user=user or _user(),
        host=socket.gethostname(),
        pid=os.getpid(),
        git_commit=_git_commit(hub.root),
    )
    jobs: list[Job] = []

    def work(project: Project) -> dict[str, Any]:
        tasks = queue_run(project, run_id, env, selection, placement)
        hub.console.info(f"run {run_id}: {len(tasks)} task(s) queued for agents")
        return follow(
            project,
            run_id,
            env,
            cancelled=lambda: jobs[0].cancel_requested,
            stopping=lambda: _closing(hub),
        )

    job = hub.submit(
        "run", f"run {run_id} in {env} by agents", work, environment=env, run_id=run_id
    )
    jobs.append(job)
    return job


def queue_run(
    project: Project, run_id: int, environment: str, selection: str | None, placement: Placement
) -> list[str]:
    """Plan the run, write its task specs down, and queue each task for its site's agents."""
    from headgate.runtime.service import RunService

    with project._engine(read_only=True) as engine:
        plan = project._plan(
            engine,
            environment,
            selection=selection,
            full_refresh=placement.full_refresh,
            nonce=str(run_id),
        )
    RunService(project.loaded, project.state, project.console, project.checks).submit(plan, run_id)
    sites = [(project.select(expression), labels) for expression, labels in placement.sites]
    work = {node.name for node in plan.work}
    tasks = []
    for node in plan.work:
        labels = dict(placement.labels)
        for names, extra in sites:
            if node.name in names:
                labels.update(extra)
                break
        tasks.append((node.name, labels, [u for u in node.upstream if u in work]))
    project.state.enqueue_tasks(run_id, tasks, max_attempts=placement.max_attempts)
    return [name for name, _, _ in tasks]


def follow(
    project: Project,
    run_id: int,
    environment: str,
    *,
    cancelled: Callable[[], bool],
    stopping: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Wait for the run's tasks; publish once when all are done. The run's result.

    When the hub stops meanwhile, the run is left running with its agents: the next hub
    process follows it again.
    """
    store = project.state
    told: set[str] = set()
    swept = 0.0
    while True:
        if time.monotonic() - swept >= SWEEP_SECONDS:
            store.expire_leases()
            queue.promote(agents.database(store), run_id)
            swept = time.monotonic()
        states = store.queue_states(run_id)
        _tell(project, states, told)
        if "failed" in states.values() and {"queued", "waiting"} & set(states.values()):
            store.cancel_queued(run_id)  # a failed task: the run cannot publish, stop it
            continue
        if cancelled():
            store.cancel_queued(run_id)
            raise JobCancelled(
                f"run {run_id} was cancelled",
                hint="queued tasks were dropped; agents holding one stop at their next heartbeat",
            )
        if all(state in FINISHED for state in states.values()):
            break
        if stopping():
            return {"run_id": run_id, "tasks": states, "handed_over": True}
        time.sleep(FOLLOW_SECONDS)
    failed = sorted(name for name, state in states.items() if state != "done")
    published = False
    if not failed:
        published = _publish(project, run_id, environment)
    error = f"{len(failed)} task(s) did not succeed: {', '.join(failed[:20])}" if failed else None
    store.finish_run(run_id, "failed" if failed else "success", error=error, published=published)
    return {"run_id": run_id, "tasks": states, "failed": failed, "published": published}


def resume(hub: Hub) -> list[int]:
    """Follow again the agents' runs a previous hub process left (marked abandoned)."""
    resumed = []
    for run_id in agents.interrupted_runs(agents.database(hub.store)):
        record = hub.store.get_run(run_id)
        if record is None:
            continue
        hub.store.reopen_run(run_id, host=socket.gethostname(), pid=os.getpid())
        _follow_again(hub, run_id, record.environment)
        resumed.append(run_id)
        log.info("following run %s again: its tasks are with agents", run_id)
    return resumed


def _follow_again(hub: Hub, run_id: int, environment: str) -> Job:
    jobs: list[Job] = []

    def work(project: Project) -> dict[str, Any]:
        return follow(
            project,
            run_id,
            environment,
            cancelled=lambda: jobs[0].cancel_requested,
            stopping=lambda: _closing(hub),
        )

    description = f"run {run_id} in {environment} by agents (resumed)"
    job = hub.submit("run", description, work, environment=environment, run_id=run_id)
    jobs.append(job)
    return job


def _closing(hub: Hub) -> bool:
    return bool(getattr(hub, "_closed", False))


def _publish(project: Project, run_id: int, environment: str) -> bool:
    from headgate.facade.base import _user
    from headgate.plan.environments import Actor
    from headgate.runtime.service import RunService

    record = project.state.get_run(run_id)
    actor = Actor(
        record.user if record and record.user else _user(), record.git_commit if record else None
    )
    service = RunService(project.loaded, project.state, project.console, project.checks)
    with (
        project._environment_lock(environment, doing=f"publishing run {run_id}"),
        project._engine(read_only=False) as engine,
    ):
        return service.publish(engine, run_id, actor)


def _tell(project: Project, states: dict[str, str], told: set[str]) -> None:
    """Each task's end, once, to whoever follows the run (its job's events)."""
    job = getattr(project.console, "job", None)
    for name, state in states.items():
        if state in FINISHED and name not in told:
            told.add(name)
            if job is not None:
                job.emit("task_finished", {"name": name, "status": state, "ok": state == "done"})
