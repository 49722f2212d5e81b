"""Agents: register, take tasks by long polling, heartbeat, stream output, report results.

Agents call the hub; the hub never calls them. A claim waits up to ``wait_seconds`` for a
task the agent's labels qualify for, then answers 204. A taken task comes with its lease
(id, fencing token, end), the run's environment and commit, and the environment's secrets
(for the task's length, in the agent's memory only). A heartbeat extends the lease; its
answer says ``cancel`` when the run was cancelled and ``lost`` when the token is stale
(the lease ended and the task went elsewhere): the agent stops and its result is refused
with 409. People read the agents' health, their tasks and the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from headgate.errors import HeadgateError
from headgate.server.api import agent_exchange, agent_next, agent_store
from headgate.server.api.common import NAME_PATTERN, accepted, jsonable
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires
from headgate.server.task_ends import QUEUE_BELL, TASK_ENDS
from headgate.state import agents as registry
from headgate.state import claims, queue

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)
router = APIRouter(tags=["agents"])
LeaseId = Annotated[int, Path(ge=1, le=2**62)]
RunId = Annotated[int, Path(ge=1, le=2**62)]
AgentName = Annotated[str, Path(max_length=200, pattern=NAME_PATTERN)]
Labels = dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=200)]]
POLL_SECONDS = 0.1  # how often a waiting claim looks at the queue
SWEEP_SECONDS = 0.5  # leases past their end are looked for at most this often
SEEN_SECONDS = 1.0  # an agent's call is recorded at most this often


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, pattern=NAME_PATTERN)
    labels: Labels = Field(default_factory=dict, max_length=50)
    capacity: int = Field(1, ge=1, le=256, description="tasks it carries out at once")
    version: str | None = Field(None, max_length=100)
    host: str | None = Field(None, max_length=255)
    every_seconds: float = Field(
        30.0, gt=0, le=3600, description="how often it calls at the longest (health)"
    )


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_seconds: float = Field(30.0, ge=1, le=3600)
    wait_seconds: float = Field(20.0, ge=0, le=120, description="how long to wait for a task")
    plans: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, max_length=100, description="runs whose plan the agent holds"
    )


class Beat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fence: int = Field(ge=1, le=2**62)
    lease_seconds: float = Field(30.0, ge=1, le=3600)


class OutputLines(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fence: int = Field(ge=1, le=2**62)
    agent: str | None = Field(None, max_length=200)
    lines: list[Annotated[str, Field(max_length=4000)]] = Field(max_length=1000)
    writes: agent_store.WriteList = Field(
        default_factory=list, max_length=100_000, description="the task's store writes so far"
    )


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fence: int = Field(ge=1, le=2**62)
    ok: bool
    error: str | None = Field(None, max_length=8000)
    agent: str | None = Field(None, max_length=200)
    lines: list[Annotated[str, Field(max_length=4000)]] = Field(
        default_factory=list, max_length=1000, description="the task's last output lines"
    )
    next_lease_seconds: float | None = Field(
        None, ge=1, le=3600, description="take the agent's next task at once, under this lease"
    )
    writes: agent_store.WriteList = Field(
        default_factory=list,
        max_length=100_000,
        description="the task's store writes, applied with its result (none if it is stale)",
    )
    plans: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, max_length=100, description="runs whose plan the agent holds"
    )


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fence: int = Field(ge=1, le=2**62)


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid")

    select: str = Field(max_length=2000, description="the tasks of this site: name, tag:x, +name")
    labels: Labels = Field(max_length=50)


class AgentRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    environment: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    select: str | None = Field(None, max_length=2000)
    labels: Labels = Field(default_factory=dict, max_length=50)
    sites: list[Site] = Field(default_factory=list, max_length=50)
    max_attempts: int = Field(3, ge=1, le=20)
    full_refresh: bool = Field(False, description="rebuild the selected models from scratch")


@router.post(
    "/agents",
    summary="Register an agent (again): its name, labels, capacity and version",
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
def register(body: Registration, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    registry.register(
        registry.database(hub.store),
        body.name,
        labels=body.labels,
        capacity=body.capacity,
        version=body.version,
        host=body.host,
        every_seconds=body.every_seconds,
    )
    _known.pop((id(hub), body.name), None)
    agent_next.forget(hub, body.name)
    answer: dict[str, Any] = {"name": body.name, "labels": body.labels, "capacity": body.capacity}
    from headgate.server.agentruns import unshared_warehouse

    unshared = unshared_warehouse(hub)
    if unshared is not None:  # registered, so its health shows; told why no work will come
        answer["warning"] = unshared.render()
    return answer


@router.post(
    "/agents/{name}/claim",
    summary="Take a task this agent's labels qualify for, waiting up to wait_seconds "
    "(204: none came)",
    responses={204: {"description": "no task within wait_seconds"}},
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
async def claim(
    name: AgentName, body: ClaimRequest, request: Request, hub: Hub = Depends(get_hub)
) -> Response:
    db = registry.database(hub.store)
    labels = await asyncio.to_thread(labels_of, hub, name)
    until = time.monotonic() + body.wait_seconds
    lease = timedelta(seconds=body.lease_seconds)
    allowed = may_work_in(request)
    rung = QUEUE_BELL.mark()
    work = await asyncio.to_thread(_claim_work, hub, name, labels, lease, allowed, body.plans)
    if work is not None:
        return Response(_json(work), media_type="application/json")
    # waiting for work until it takes some (its takes too): no other agent hoards meanwhile
    with agent_exchange.WAITING.held(hub, name):
        while work is None:
            if time.monotonic() >= until or await request.is_disconnected():
                await asyncio.to_thread(registry.seen, db, name)
                return Response(status_code=204)
            await QUEUE_BELL.wait(rung, min(POLL_SECONDS, max(until - time.monotonic(), 0)))
            rung = QUEUE_BELL.mark()
            work = await asyncio.to_thread(
                _claim_work, hub, name, labels, lease, allowed, body.plans
            )
    return Response(_json(work), media_type="application/json")


@router.post(
    "/agents/tasks/{lease_id}/heartbeat",
    summary="Extend a task's lease; the answer says whether to cancel, or that it was lost",
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
def heartbeat(lease_id: LeaseId, body: Beat, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    held, cancel = hub.store.heartbeat_task(
        lease_id, body.fence, timedelta(seconds=body.lease_seconds)
    )
    task = registry.lease_of(registry.database(hub.store), lease_id)
    if task is not None and task.agent:
        registry.seen(registry.database(hub.store), task.agent)
    return {"held": held, "lost": not held, "cancel": cancel}


@router.post(
    "/agents/tasks/{lease_id}/output",
    status_code=204,
    summary="Lines the task printed, kept with the run's task (409: the lease is not held)",
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
def output(lease_id: LeaseId, body: OutputLines, hub: Hub = Depends(get_hub)) -> Response:
    db = registry.database(hub.store)
    task = _held(db, lease_id, body.fence)
    if body.writes:
        agent_store.apply_writes(hub, lease_id, body.fence, body.writes)
    registry.add_output(db, task.run_id, task.task, task.attempts, body.agent, body.lines)
    return Response(status_code=204)


@router.post(
    "/agents/tasks/{lease_id}/complete",
    summary="Report a task's result with its fencing token (409: stale, the result is refused)",
    response_model=None,  # JSON as it is: no validation in another worker thread
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
def complete(
    lease_id: LeaseId,
    body: Result,
    request: Request,
    background: BackgroundTasks,
    hub: Hub = Depends(get_hub),
) -> Response:
    answer: dict[str, Any] = {"accepted": True, "applied": True, "next": None}
    wants_next = body.next_lease_seconds is not None and body.agent is not None
    if wants_next:
        # a ready task (not waiting for this one) is handed out at once; the result is
        # applied after the answer, while the agent carries the next task out
        calls = agent_store.check_writes(hub, lease_id, body.fence, body.writes)
        work = _next_work(hub, body, request)
        if work is not None:
            agent_next.expect(hub, str(body.agent))
            background.add_task(_apply_later, hub, lease_id, body, calls, may_work_in(request))
            answer |= {"applied": False, "next": work}
            return Response(_json(answer), media_type="application/json")
    _apply_result(hub, lease_id, body)
    if wants_next:  # one round trip fewer per task: the tasks this result made ready
        answer["next"] = _next_work(hub, body, request)
    return Response(_json(answer), media_type="application/json")  # encoded once, as is


def _apply_result(
    hub: Hub, lease_id: int, body: Result, calls: agent_store.Calls | None = None
) -> None:
    """The result and the task's writes in one transaction (a stale token applies none
    of them; the lease ends first, its row locked until the writes are applied); the
    run's follower and the waiting claims hear of it once it is committed."""
    ended: list[queue.Ended] = []

    def end_lease(conn: Connection) -> queue.Ended | None:
        found = queue.end_lease_in(conn, lease_id, body.fence, ok=body.ok, error=body.error)
        ended.extend([found] if found is not None else [])
        return found

    agent_store.apply_writes(
        hub,
        lease_id,
        body.fence,
        body.writes,
        hold=end_lease,
        then=lambda conn: queue.after_end_in(conn, ended[0], output=body.lines, source=body.agent),
        calls=calls,
    )
    for task in ended:  # the run's follower hears of it at once
        TASK_ENDS.tell(TASK_ENDS.key(hub.store, task.run_id), task.task, task.state)
    QUEUE_BELL.ring()


def _apply_later(
    hub: Hub,
    lease_id: int,
    body: Result,
    calls: agent_store.Calls,
    may_work_in: Callable[[str], bool] | None,
) -> None:
    """A result applied after its answer; refused (the lease ended meanwhile) or failed,
    nothing of it is applied: the lease runs out and the task is carried out again. Then
    the agent's next task is read ahead (agent_next.py) while it works; its next result
    waits for that reading (ended here, whatever happened)."""
    agent, step = str(body.agent), "the result was not applied"
    try:
        _apply_result(hub, lease_id, body, calls)
        step = "its next task was not read ahead (it is taken the usual way)"
        agent_next.prepare(hub, agent, labels_of(hub, agent), may_work_in, body.plans)
    except Exception as exc:
        log.warning("lease %s of %s: %s: %s", lease_id, agent, step, _said(exc))
    finally:
        agent_next.done(hub, agent)


def _said(exc: Exception) -> str:
    return exc.render() if isinstance(exc, HeadgateError) else f"{type(exc).__name__}: {exc}"


def _next_work(hub: Hub, body: Result, request: Request) -> dict[str, Any] | None:
    """The agent's next task, taken with its result (None: none is ready, or the agent
    is unknown)."""
    lease = timedelta(seconds=body.next_lease_seconds or 30.0)
    with contextlib.suppress(HeadgateError):  # an unknown agent just takes nothing
        labels, allowed = labels_of(hub, str(body.agent)), may_work_in(request)
        ready = agent_next.take(hub, str(body.agent), lease, allowed)
        if ready is not None:
            return ready
        taken = _try_claim(hub, str(body.agent), labels, lease, allowed)
        return None if taken is None else _work_of(hub, taken, body.plans)
    return None


@router.post(
    "/agents/tasks/{lease_id}/release",
    status_code=204,
    summary="Give a task back untouched (an agent stopping before it began): queued again, "
    "its attempt not counted",
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
def release(lease_id: LeaseId, body: Release, hub: Hub = Depends(get_hub)) -> Response:
    if not queue.release(registry.database(hub.store), lease_id, body.fence):
        raise stale(lease_id, body.fence)
    QUEUE_BELL.ring()
    return Response(status_code=204)


@router.get(
    "/agents",
    summary="The agents: health (healthy, late, offline), labels, capacity, current tasks",
    dependencies=[Depends(requires(Permission.AGENTS_READ))],
)
def list_agents(hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    found = registry.list_agents(registry.database(hub.store))
    return {"items": jsonable(found), "total": len(found)}


@router.get(
    "/queue",
    summary="The task queue: tasks waiting for an agent and tasks held by one, oldest first",
    dependencies=[Depends(requires(Permission.AGENTS_READ))],
)
def list_queue(
    hub: Hub = Depends(get_hub),
    all: Annotated[bool, Query(description="the newest tasks in any state")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    tasks = registry.queue_of(registry.database(hub.store), unfinished=not all, limit=limit)
    return {"items": jsonable(tasks), "total": len(tasks)}


@router.get(
    "/queue/runs/{run_id}",
    summary="A run's queued tasks (state, agent, attempts) and the output each printed",
    dependencies=[Depends(requires(Permission.AGENTS_READ))],
)
def run_queue(
    run_id: RunId,
    hub: Hub = Depends(get_hub),
    task: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    hub.project.run_detail(run_id)  # an unknown run answers 404
    db = registry.database(hub.store)
    return {
        "run_id": run_id,
        "tasks": jsonable(registry.tasks_of_run(db, run_id)),
        "output": jsonable(registry.output_of(db, run_id, task)),
    }


@router.post(
    "/queue/runs",
    status_code=202,
    summary="Start a run carried out by agents: planned here, each task queued for the agents "
    "of its site, published here once all are done",
    dependencies=[Depends(requires(Permission.RUNS_START))],
)
def start_agent_run(body: AgentRunRequest, hub: Hub = Depends(get_hub)) -> Response:
    from headgate.server.agentruns import Placement, start

    placement = Placement(
        labels=dict(body.labels),
        sites=[(site.select, dict(site.labels)) for site in body.sites],
        max_attempts=body.max_attempts,
        full_refresh=body.full_refresh,
    )
    job = start(hub, body.environment, placement, selection=body.select)
    links = {"run": f"/api/v1/runs/{job.run_id}", "queue": f"/api/v1/queue/runs/{job.run_id}"}
    body_out = {"run_id": job.run_id, "job_id": job.id, "status": job.status, "links": links}
    return accepted(body_out, f"/api/v1/runs/{job.run_id}")


# --- helpers ---------------------------------------------------------------------------------

_sweeps: weakref.WeakKeyDictionary[Hub, float] = weakref.WeakKeyDictionary()
_known: dict[tuple[int, str], tuple[float, dict[str, str]]] = {}  # (hub, agent) -> labels
_sweep_guard = threading.Lock()


def labels_of(hub: Hub, name: str) -> dict[str, str]:
    """The agent's labels as it registered them; its call is recorded (at most once a
    second: an agent polling in a loop does not write each time)."""
    db = registry.database(hub.store)
    key = (id(hub), name)
    kept = _known.get(key)
    if kept is not None and time.monotonic() - kept[0] < SEEN_SECONDS:
        return kept[1]
    labels = registry.labels_of(db, name) if registry.seen(db, name) else None
    if labels is None:
        raise HeadgateError(
            f"no agent named '{name}' is registered with this hub",
            hint="register first: POST /api/v1/agents with its name, labels and capacity",
        )
    _known[key] = (time.monotonic(), labels)
    return labels


def may_work_in(request: Request) -> Callable[[str], bool] | None:
    """The environments the caller's token holds agents:work in (None: no sign-in)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return None
    return lambda environment: bool(principal.allows(Permission.AGENTS_WORK, environment))


def _try_claim(
    hub: Hub,
    name: str,
    labels: dict[str, str],
    lease: timedelta,
    may_work_in: Callable[[str], bool] | None = None,
) -> Any:
    if not agent_store.worth_claiming(hub):
        return None
    db = registry.database(hub.store)
    return claims.claim(db, name, labels, lease, may_work_in=may_work_in)


def sweep_due(hub: Hub) -> None:
    """Send leases past their end back to the queue, at most every SWEEP_SECONDS."""
    with _sweep_guard:
        due = time.monotonic() - _sweeps.get(hub, 0.0) >= SWEEP_SECONDS
        if due:
            _sweeps[hub] = time.monotonic()
    if due:
        hub.store.expire_leases()


def _claim_work(
    hub: Hub,
    name: str,
    labels: dict[str, str],
    lease: timedelta,
    may_work_in: Callable[[str], bool] | None,
    plans: list[int],
) -> dict[str, Any] | None:
    """A task taken and what comes with it (one worker thread for both); None: none."""
    taken = _try_claim(hub, name, labels, lease, may_work_in)
    return None if taken is None else _work_of(hub, taken, plans)


def _work_of(hub: Hub, lease: queue.Lease, plans: list[int]) -> dict[str, Any]:
    environment, commit = agent_store.brief_of(hub, lease.run_id)
    secrets, context = agent_store.secrets_and_context(hub, lease, plans, environment)
    return agent_store.work_answer(lease, environment, commit, secrets, context)


def _held(db: Any, lease_id: int, fence: int) -> registry.QueuedTask:
    task = registry.lease_of(db, lease_id)
    if task is None:
        raise HeadgateError(
            f"no task with lease {lease_id} in the queue", hint="see GET /api/v1/queue"
        )
    if registry.current_fence(db, lease_id) != fence:
        raise stale(lease_id, fence)
    return task


class StaleLease(HeadgateError):
    """A result or output sent with a fencing token that is no longer current."""

    status = 409


def stale(lease_id: int, fence: int) -> StaleLease:
    return StaleLease(
        f"the lease {lease_id} with token {fence} is no longer held",
        hint="the lease ended and the task went back to the queue or to another agent; "
        "drop this result and take new work",
    )


def stale_text(lease_id: int, fence: int) -> str:
    return stale(lease_id, fence).render()


def _json(data: Any) -> bytes:
    import json

    return json.dumps(data, default=str).encode()
