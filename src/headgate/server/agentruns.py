"""Runs carried out by agents: the hub plans them, queues their tasks, follows and publishes.

A run for agents is planned at the hub and written down as task specs (the runtime
service's ``submit``); each task is queued with the labels an agent must carry to take
it: the run's labels, and for the tasks a site's selection names, that site's labels too.
So one run can span sites, each task on the agents of its site, in DAG order. A thread of
the hub then follows the run, outside the writer lane (other writes, other runs for
agents, go on meanwhile): leases past their end go back to the queue, each task's end is
told to the run's followers, and when every task is done the publish is queued in the
writer lane, which publishes the environment once, under its lock. Cancelling the run cancels what is queued; agents
holding a task hear it at their next heartbeat.

The queue and the run's plan live in the metadata store, so a hub restarted in the middle
of a run follows it again (:func:`resume`): the agents kept working, or waited for the
hub, meanwhile. The run's record keeps its :class:`Placement` from the start, so a run
whose hub died before its tasks were queued is planned and queued again.

Whenever a run's record closes it becomes events (observe/own.py), as a local run does:
journeys, rules and alerts see runs carried out by agents.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headgate.errors import HeadgateError
from headgate.observe.own import observe_run
from headgate.project.schedules import ALL_STEPS, STEPS, includes_text
from headgate.server.agentplacement import Placement, kept_placement, placement_from
from headgate.server.jobs import CANCELLED, DONE, FAILED, RUNNING, Job, JobCancelled
from headgate.server.task_ends import TASK_ENDS, Key
from headgate.state import agents, queue, runs

if TYPE_CHECKING:
    from headgate.facade import Project
    from headgate.project.schedules import AgentsConfig
    from headgate.runtime.executor import RetryPolicy
    from headgate.server.hub import Hub
    from headgate.state.database import Database
    from headgate.state.store import StateStore

log = logging.getLogger("headgate.hub")

FOLLOW_SECONDS = 0.1  # how often the hub looks at a followed run's queue
SWEEP_SECONDS = 1.0  # how often it sends leases past their end back to the queue
RECHECK_SECONDS = 10.0  # how often it reads every task's state again, and queues any missed
FINISHED = queue.FINISHED


class UnsharedWarehouse(HeadgateError):
    """A run for agents asked of a hub whose warehouse only the hub may write."""

    status = 409


def unshared_warehouse(hub: Hub) -> UnsharedWarehouse | None:
    """Why this hub cannot have agents (its warehouse only it may write), or None."""
    if hub.engine.capabilities.shared_by_processes:
        return None
    return UnsharedWarehouse(
        "runs for agents need a warehouse that agents can build into while the hub "
        f"holds it; this project's (engine: {hub.project.loaded.config.engine.type} in "
        "headgate.yml) is written by one process at a time, the hub",
        hint="run it on the hub (POST /api/v1/runs, or a schedule without `agents:`), "
        "or move the warehouse to PostgreSQL (engine: {type: postgres, ...} in "
        "headgate.yml) so the agents of a site share it",
    )


LOST_UNKEPT = (
    "the hub stopped after recording this run and before queuing its tasks, and the run "
    "was recorded by an earlier headgate, which did not keep where its tasks go: it "
    "cannot be queued again; start it again"
)


def start(
    hub: Hub,
    environment: str | None,
    placement: Placement,
    *,
    selection: str | None = None,
    user: str | None = None,
    end: datetime | None = None,
) -> Job:
    """Record a run now; plan it and queue its tasks in the writer lane, then follow it.

    ``end``: the run's end (a schedule's slot time), for incremental models' ranges.
    """
    from headgate.facade.base import _git_commit, _user

    env = hub.project._environment(environment)
    unshared = unshared_warehouse(hub)
    if unshared is not None:
        raise unshared
    if "checks" not in placement.includes:
        raise HeadgateError(
            "a run for agents checks what it builds: include checks",
            hint="agents audit each table as they build it",
        )
    for expression, _ in placement.sites:
        hub.project.select(expression)  # an unknown name is refused before anything is queued
    run_id = runs.start_run(  # with its placement: a hub that dies before queuing can
        agents.database(hub.store),  # still queue the run (resume)
        environment=env,
        command="run (agents)" + includes_text(placement.includes),
        selection=selection,
        user=user or _user(),
        host=socket.gethostname(),
        pid=os.getpid(),
        git_commit=_git_commit(hub.root),
        placement=kept_placement(placement, end),
    )
    follower = Job("run", f"run {run_id} in {env} by agents", _outside_lane, env, run_id)
    _plan_in_lane(hub, follower, selection, placement, end)
    hub.track(follower)
    return follower


def _plan_in_lane(
    hub: Hub, follower: Job, selection: str | None, placement: Placement, end: datetime | None
) -> None:
    """Plan the follower's run and queue its tasks in the writer lane, then follow it; a
    run that cannot be planned ends failed."""
    run_id, env = follower.run_id, follower.environment
    assert run_id is not None and env is not None

    def plan(project: Project) -> dict[str, Any]:
        try:
            tasks = queue_run(project, run_id, env, selection, placement, end=end)
        except BaseException as exc:
            follower.error = exc.render() if isinstance(exc, HeadgateError) else str(exc)
            follower.finish(FAILED)
            # the run's record ends too: a schedule's limit counts running runs
            _close_run(hub.store, run_id, "failed", error=follower.error)
            raise
        _follow_in_thread(hub, follower, env)
        return {"run_id": run_id, "queued": len(tasks)}

    try:
        hub.submit("run", f"plan run {run_id} in {env} for agents", plan, environment=env)
    except BaseException as exc:
        _close_run(hub.store, run_id, "failed", error=str(exc))
        raise


def _close_run(
    store: StateStore,
    run_id: int,
    status: str,
    *,
    error: str | None = None,
    published: bool = False,
) -> None:
    """End the run's record and record its events (pipeline, models, checks), as a local
    run's end does: journeys, rules and alerts see runs carried out by agents too."""
    store.finish_run(run_id, status, error=error[:4000] if error else None, published=published)
    observe_run(store, run_id)


def queue_run(
    project: Project,
    run_id: int,
    environment: str,
    selection: str | None,
    placement: Placement,
    *,
    end: datetime | None = None,
) -> list[str]:
    """Plan the run, write its task specs down, and queue each task for its site's agents;
    each waits for what it would wait for in a local run (its upstream, the steps feeding
    it, the models its checks read)."""
    from headgate.runtime.service import RunService
    from headgate.runtime.waits import task_waits

    with project._engine(read_only=True) as engine:
        plan = project._plan(
            engine,
            environment,
            selection=selection,
            full_refresh=placement.full_refresh,
            nonce=str(run_id),
            end=end,
            includes=placement.includes,
        )
    # kept with the plan: the follower reads the steps, each agent how to try its task
    plan.includes = placement.includes
    plan.policy = placement.policy or project.retry_policy
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
        waits = task_waits(project.loaded, plan, project.checks, node)
        tasks.append((node.name, labels, [u for u in dict.fromkeys(waits) if u in work]))
    project.state.enqueue_tasks(run_id, tasks, max_attempts=placement.max_attempts)
    return [name for name, _, _ in tasks]


def wait_for(
    project: Project,
    run_id: int,
    job: Job | None,
    *,
    cancelled: Callable[[], bool],
    stopping: Callable[[], bool] = lambda: False,
) -> dict[str, str] | None:
    """Wait until every task of the run has ended; each task's state (None: the hub stops
    meanwhile and leaves the run running with its agents, for the next hub process).

    The ends this hub records are told at once (server/task_ends.py); every state is
    read again once a second, and when the count of finished tasks says something ended
    that was not told."""
    store = project.state
    key = TASK_ENDS.key(store, run_id)
    TASK_ENDS.follow(key)
    try:
        return _follow(store, run_id, job, key, cancelled=cancelled, stopping=stopping)
    finally:
        TASK_ENDS.unfollow(key)


def _follow(
    store: StateStore,
    run_id: int,
    job: Job | None,
    key: Key,
    *,
    cancelled: Callable[[], bool],
    stopping: Callable[[], bool],
) -> dict[str, str] | None:
    db = agents.database(store)
    told: set[str] = set()
    swept = checked = 0.0
    states: dict[str, str] = {}
    while True:
        if stopping():
            return None
        if time.monotonic() - swept >= SWEEP_SECONDS:
            expired, swept = store.expire_leases(), time.monotonic()
            if expired or swept - checked >= RECHECK_SECONDS:  # a task back in the queue
                queue.promote(db, run_id)  # a safety net: each result queues what it frees
                states, checked = store.queue_states(run_id), swept
        _tell(job, states, told)
        if "failed" in states.values() and {"queued", "waiting"} & set(states.values()):
            store.cancel_queued(run_id)  # a failed task: the run cannot publish, stop it
            states = store.queue_states(run_id)
            continue
        if cancelled():
            store.cancel_queued(run_id)
            raise JobCancelled(
                f"run {run_id} was cancelled",
                hint="queued tasks were dropped; agents holding one stop at their next heartbeat",
            )
        if all(state in FINISHED for state in states.values()):
            return states
        ended = TASK_ENDS.take(key, FOLLOW_SECONDS)
        states.update(ended)
        if not ended and queue.finished_count(db, run_id) != _finished(states):
            states = store.queue_states(run_id)  # ended elsewhere: read them all


def _finished(states: dict[str, str]) -> int:
    return sum(1 for state in states.values() if state in FINISHED)


def resume(hub: Hub) -> list[int]:
    """Follow again the agents' runs a previous hub process left (marked abandoned), and
    plan and queue again those it left before their tasks were queued."""
    db = agents.database(hub.store)
    resumed = [run_id for run_id in agents.interrupted_runs(db) if _follow_again(hub, db, run_id)]
    for run_id, kept in agents.unqueued_runs(db):
        if _queue_again(hub, db, run_id, kept):
            resumed.append(run_id)
    return resumed


def _follow_again(hub: Hub, db: Database, run_id: int) -> bool:
    """Follow a run whose tasks are queued, unless another hub took it on meanwhile (of two
    replicas starting at once, one follows it and publishes)."""
    record = hub.store.get_run(run_id, specs=False)
    if record is None:
        return False
    if not runs.reopen_abandoned(db, run_id, host=socket.gethostname(), pid=os.getpid()):
        return False
    env = record.environment
    follower = Job("run", f"run {run_id} in {env} by agents (resumed)", _outside_lane, env, run_id)
    hub.track(follower)
    _follow_in_thread(hub, follower, env)
    log.info("following run %s again: its tasks are with agents", run_id)
    return True


def _queue_again(hub: Hub, db: Database, run_id: int, kept: dict[str, Any] | None) -> bool:
    """Plan and queue again (in the writer lane, as :func:`start` does) a run whose hub
    died before its tasks were queued, then follow it. One recorded without its placement
    stays abandoned, its record saying why."""
    record = hub.store.get_run(run_id, specs=False)
    if record is None:
        return False
    if kept is None:
        hub.store.finish_run(run_id, "abandoned", error=LOST_UNKEPT)
        log.warning("run %s stays abandoned: %s", run_id, LOST_UNKEPT)
        return False
    try:
        placement, end = placement_from(kept)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        error = f"run {run_id} cannot be queued again: its kept placement is unreadable ({exc})"
        _close_run(hub.store, run_id, "failed", error=error)
        return False
    if not runs.reopen_abandoned(db, run_id, host=socket.gethostname(), pid=os.getpid()):
        return False  # another hub took it on meanwhile
    env = record.environment
    description = f"run {run_id} in {env} by agents (queued again)"
    follower = Job("run", description, _outside_lane, env, run_id)
    try:
        _plan_in_lane(hub, follower, record.selection, placement, end)
    except Exception:  # the run's record says why; the hub starts all the same
        log.exception("run %s could not be queued again", run_id)
        return False
    hub.track(follower)
    log.info("queuing run %s again: its hub stopped before its tasks were queued", run_id)
    return True


def _follow_in_thread(hub: Hub, job: Job, environment: str) -> None:
    """Follow the job's run in a thread of its own; the publish goes through the lane."""
    run_id = job.run_id
    assert run_id is not None

    def follow_run() -> None:
        job.status, job.started_at = RUNNING, datetime.now(UTC)
        try:
            states = wait_for(
                hub.project,
                run_id,
                job,
                cancelled=lambda: job.cancel_requested,
                stopping=lambda: _closing(hub),
            )
            if states is None:  # the hub stops: the next one follows the run
                job.finish(DONE, result={"run_id": run_id, "handed_over": True})
                return
            result = _conclude(hub, run_id, environment, states, _includes_of(hub, run_id))
        except JobCancelled as exc:
            _close_run(hub.store, run_id, "cancelled", error=exc.message)
            job.error = exc.render()
            job.emit("error", {"error": job.error})
            job.finish(CANCELLED)
        except Exception as exc:  # a bug must not leave the run running for ever
            job.error = f"{type(exc).__name__}: {exc}"
            if _closing(hub):  # the store closed under it: the next hub follows the run
                job.finish(DONE, result={"run_id": run_id, "handed_over": True})
                return
            log.exception("following run %s failed", run_id)
            with contextlib.suppress(Exception):
                _close_run(hub.store, run_id, "failed", error=job.error)
            job.finish(FAILED)
        else:
            job.emit("finished", {"result": result})
            job.finish(DONE if not result["failed"] else FAILED, result=result)

    threading.Thread(target=follow_run, name=f"follow-run-{run_id}", daemon=True).start()


def _conclude(
    hub: Hub,
    run_id: int,
    environment: str,
    states: dict[str, str],
    includes: frozenset[str] = ALL_STEPS,
) -> dict[str, Any]:
    """Publish once (in the writer lane) when every task is done, then deliver, as far as
    the run includes them; end the run's record."""
    failed = sorted(name for name, state in states.items() if state != "done")
    published = False
    if not failed and "publish" in includes:

        def publish(project: Project) -> dict[str, Any]:
            done = _publish(project, run_id, environment)
            if done and "deliveries" in includes and project.deliveries:
                project.deliver(environment)
            return {"published": done}

        publishing = hub.submit(
            "publish", f"publish run {run_id} in {environment}", publish, environment=environment
        )
        publishing.wait()
        if publishing.status != DONE:
            raise JobCancelled(
                f"run {run_id} was built by its agents but not published: {publishing.error}",
                hint="run it again: what the agents built is reused",
            )
        published = bool((publishing.result or {}).get("published"))
    error = f"{len(failed)} task(s) did not succeed: {', '.join(failed[:20])}" if failed else None
    _close_run(
        hub.store, run_id, "failed" if failed else "success", error=error, published=published
    )
    return {"run_id": run_id, "tasks": states, "failed": failed, "published": published}


def scheduled_run(
    hub: Hub,
    environment: str,
    agents: AgentsConfig,
    *,
    selection: str | None,
    user: str,
    end: datetime | None = None,
    policy: RetryPolicy | None = None,
    slot: tuple[str, datetime] | None = None,
    includes: Collection[str] | None = None,
) -> int:
    """A schedule's (or a trigger's) run handed to the agents it names; its run id.

    Its tries per task are the schedule's retries plus one; ``slot`` is recorded by the
    scheduler with the run's id, as for the hub's own runs.
    """
    from headgate.project.schedules import checked_includes
    from headgate.security.principal import Refused, authorize_job

    placement = Placement(
        labels=dict(agents.labels),
        sites=[(site.select, dict(site.labels)) for site in agents.sites],
        max_attempts=policy.attempts if policy is not None else 3,
        includes=checked_includes(includes),
        policy=policy,
    )
    authorize_job("run", environment)  # a caller refused (403) leaves no run behind
    try:
        job = start(hub, environment, placement, selection=selection, user=user, end=end)
    except Refused:
        raise
    except HeadgateError as exc:  # e.g. a site's selection names nothing: the slot's run says so
        return _refused_run(hub, environment, placement, selection, user, exc)
    assert job.run_id is not None
    hub.project._audit(
        "run.start",
        environment=job.environment,
        target=str(job.run_id),
        detail={
            "selection": selection,
            "schedule": slot[0] if slot else None,
            "includes": [s for s in STEPS if s in placement.includes],
            "agents": agents.model_dump(mode="json"),
        },
    )
    return job.run_id


def _refused_run(
    hub: Hub,
    environment: str,
    placement: Placement,
    selection: str | None,
    user: str,
    error: HeadgateError,
) -> int:
    """A scheduled run for agents that could not start, recorded as failed with the reason
    (a slot needs a run: one without would hold the schedule's limit)."""
    from headgate.facade.base import _git_commit

    run_id = hub.store.start_run(
        environment=environment,
        command="run (agents)" + includes_text(placement.includes),
        selection=selection,
        user=user,
        host=socket.gethostname(),
        pid=os.getpid(),
        git_commit=_git_commit(hub.root),
    )
    _close_run(hub.store, run_id, "failed", error=error.render())
    log.warning("%s: run %s for agents did not start: %s", user, run_id, error.render())
    return run_id


def _includes_of(hub: Hub, run_id: int) -> frozenset[str]:
    """The steps a run includes, as its plan keeps them; a run planned before plans kept
    them: as its command says (``run (agents) --only a,b``)."""
    plan = hub.store.run_plan(run_id)
    if plan is not None and plan.get("includes") is not None:
        return frozenset(str(step) for step in plan["includes"])
    record = hub.store.get_run(run_id, specs=False)
    command = record.command if record is not None else ""
    if " --only " not in command:
        return ALL_STEPS
    return frozenset(command.split(" --only ", 1)[1].split()[0].split(","))


def _outside_lane(project: Project) -> dict[str, Any]:
    raise AssertionError("a followed run is carried out by agents, not in the writer lane")


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


def _tell(job: Job | None, states: dict[str, str], told: set[str]) -> None:
    """Each task's end, once, to whoever follows the run (its job's events)."""
    for name, state in states.items():
        if state in FINISHED and name not in told:
            told.add(name)
            if job is not None:
                job.emit("task_finished", {"name": name, "status": state, "ok": state == "done"})
