"""Several tasks per call: an agent that keeps tasks in hand reports and takes in one request.

``POST /agents/{name}/exchange`` carries the results of the tasks an agent finished since
its last call, the leases of the tasks it holds and has not begun (extended), and how
many tasks it wants now. The hub checks each result's fencing token and writes (a stale
token or a write that is not its task's refuses that result alone), applies the accepted
ones in one transaction (their leases ended with their tokens in one statement, their
output lines kept in another, their writes, the tasks waiting for them queued), then
leases up to ``want`` ready tasks in one statement and answers them with what comes with
each (the environment's secrets, read once per environment, and the task's context).
With nothing to hand out and nothing reported, the request waits for work like a claim.
One request, one transaction and one claim per batch instead of per task, and a fixed
number of statements to end its leases and extend those in hand: what the hub spends per
task falls as the batches grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from headgate.errors import HeadgateError
from headgate.server.api import agent_store
from headgate.server.api.common import NAME_PATTERN
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires
from headgate.server.task_ends import QUEUE_BELL, TASK_ENDS
from headgate.state import agents as registry
from headgate.state import claims, queue, queue_batches
from headgate.state.quickread import quick_read
from headgate.state.tables import task_queue

log = logging.getLogger(__name__)
router = APIRouter(tags=["agents"])
AgentName = Annotated[str, Path(max_length=200, pattern=NAME_PATTERN)]
Fence = Annotated[int, Field(ge=1, le=2**62)]
LeaseNumber = Annotated[int, Field(ge=1, le=2**62)]
POLL_SECONDS = 0.1  # how often a waiting exchange looks at the queue
# the store's writes whose one argument is a list of records, upserted or added together
JOINABLE = frozenset(
    {"record_tasks", "register_physical", "record_model_versions", "record_many_metrics"}
)


class Finished(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: LeaseNumber
    fence: Fence
    ok: bool
    error: str | None = Field(None, max_length=8000)
    lines: list[Annotated[str, Field(max_length=4000)]] = Field(
        default_factory=list, max_length=1000, description="the task's last output lines"
    )
    writes: agent_store.WriteList = Field(
        default_factory=list, max_length=100_000, description="the task's store writes"
    )


class InHand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: LeaseNumber
    fence: Fence


Ready = tuple[int, Finished, agent_store.Calls]  # a result to apply: its place, its writes


class Exchange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results: list[Finished] = Field(default_factory=list, max_length=256)
    held: list[InHand] = Field(
        default_factory=list, max_length=256, description="tasks in hand, not begun: extended"
    )
    want: int = Field(0, ge=0, le=256, description="tasks to take now")
    free: int | None = Field(
        None,
        ge=0,
        le=256,
        description="of them, the slots idle now; the rest (to keep in hand) is handed out "
        "only while no other agent waits for work",
    )
    lease_seconds: float = Field(30.0, ge=1, le=3600)
    wait_seconds: float = Field(
        0.0, ge=0, le=120, description="with nothing reported, wait this long for a task"
    )
    plans: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, max_length=100, description="runs whose plan the agent holds"
    )


@router.post(
    "/agents/{name}/exchange",
    summary="Report finished tasks, extend the leases of tasks in hand, and take up to "
    "`want` tasks, in one call",
    response_model=None,  # JSON as it is: encoded once
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
async def exchange(
    name: AgentName, body: Exchange, request: Request, hub: Hub = Depends(get_hub)
) -> Response:
    from headgate.server.api.agents import may_work_in

    allowed = may_work_in(request)
    lease = timedelta(seconds=body.lease_seconds)
    until = time.monotonic() + (body.wait_seconds if not body.results else 0.0)
    rung = QUEUE_BELL.mark()
    # what one call asks for in one hop to a worker thread: results, leases in hand, tasks
    answer, labels = await asyncio.to_thread(_first_answer, hub, name, body, lease, allowed)
    if body.want and not answer["tasks"] and time.monotonic() < until:
        with WAITING.held(hub, name):  # until it takes some: no other agent hoards meanwhile
            while not answer["tasks"] and time.monotonic() < until:
                if await request.is_disconnected():
                    break
                await QUEUE_BELL.wait(rung, min(POLL_SECONDS, max(until - time.monotonic(), 0)))
                rung = QUEUE_BELL.mark()
                answer["tasks"] = await asyncio.to_thread(
                    take, hub, name, labels, lease, allowed, body.plans, _wanted(hub, name, body)
                )
    return Response(_json(answer), media_type="application/json")


def _first_answer(
    hub: Hub,
    name: str,
    body: Exchange,
    lease: timedelta,
    allowed: Callable[[str], bool] | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The call's results settled, its leases in hand extended and, when it wants any,
    the tasks taken now; and the agent's labels (to take again while it waits)."""
    from headgate.server.api.agents import labels_of

    answer: dict[str, Any] = {
        "results": settle(hub, name, body.results),
        "held": extend(hub, body.held, body.lease_seconds),
        "tasks": [],
    }
    labels: dict[str, str] = {}
    if body.want:
        labels = labels_of(hub, name)
        wanted = _wanted(hub, name, body)
        answer["tasks"] = take(hub, name, labels, lease, allowed, body.plans, wanted)
    return answer, labels


def _wanted(hub: Hub, name: str, body: Exchange) -> int:
    """How many tasks to hand out now: no hoarding while another agent idles."""
    if body.free is not None and WAITING.others(hub, name):
        return min(body.want, body.free)
    return body.want


class Waiting:
    """The agents waiting at this hub for work right now (in a claim or an exchange)."""

    def __init__(self) -> None:
        self._count: dict[tuple[int, str], int] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def held(self, hub: Hub, agent: str) -> Iterator[None]:
        key = (id(hub), agent)
        with self._guard:
            self._count[key] = self._count.get(key, 0) + 1
        try:
            yield
        finally:
            with self._guard:
                self._count[key] -= 1
                if not self._count[key]:
                    del self._count[key]

    def others(self, hub: Hub, agent: str) -> bool:
        """Whether an agent other than ``agent`` waits for work."""
        with self._guard:
            return any(key[0] == id(hub) and key[1] != agent for key in self._count)


WAITING = Waiting()


def settle(hub: Hub, agent: str, results: list[Finished]) -> list[dict[str, Any]]:
    """Each result's fate: applied (``accepted``), or refused with its status (409: its
    token is stale; 403: a write that is not its task's; 500: it could not be applied)."""
    if not results:
        return []
    from headgate.server.api.agents import stale_text

    owners = _owners(hub, results)
    fates: dict[int, dict[str, Any]] = {}  # by the result's place in the call
    ready: list[Ready] = []
    for place, result in enumerate(results):
        owner = owners.get((result.lease_id, result.fence))
        if owner is None:
            fates[place] = _refused(result, 409, stale_text(result.lease_id, result.fence))
            continue
        try:
            calls = agent_store.decoded_writes(result.writes)
            for method, args in calls:
                agent_store.owned(owner, method, args)
        except HeadgateError as exc:
            fates[place] = _refused(result, getattr(exc, "status", 400), exc.render())
            continue
        ready.append((place, result, calls))
    fates.update(_apply(hub, agent, ready))
    return [fates[place] for place in range(len(results))]


def _owners(hub: Hub, results: list[Finished]) -> dict[tuple[int, int], queue.Held]:
    """The tasks the results' leases hold, read in one query: (lease, token) -> task."""
    ids = [result.lease_id for result in results]
    query = select(
        task_queue.c.id,
        task_queue.c.fence,
        task_queue.c.run_id,
        task_queue.c.task,
        task_queue.c.attempts,
    ).where(task_queue.c.id.in_(ids), task_queue.c.state == "leased")
    with quick_read(registry.database(hub.store)) as conn:
        rows = conn.execute(query).all()
    return {
        (int(r.id), int(r.fence)): queue.Held(
            int(r.id), int(r.run_id), str(r.task), int(r.attempts)
        )
        for r in rows
    }


def _apply(hub: Hub, agent: str, ready: list[Ready]) -> dict[int, dict[str, Any]]:
    """The results in one transaction; if it fails, each in one of its own (a result that
    cannot be applied costs only its own task a new attempt)."""
    if not ready:
        return {}
    try:
        fates, ended = _apply_together(hub, agent, ready)
    except HeadgateError as exc:
        if len(ready) == 1:
            place, result, _ = ready[0]
            log.warning("the result of lease %s was not applied: %s", result.lease_id, exc)
            return {place: _refused(result, 500, exc.render())}
        fates, ended = {}, []
        for one in ready:
            fates.update(_apply(hub, agent, [one]))
        return fates
    for task in ended:  # the runs' followers hear of it at once
        TASK_ENDS.tell(TASK_ENDS.key(hub.store, task.run_id), task.task, task.state)
    QUEUE_BELL.ring()
    return fates


def _apply_together(
    hub: Hub, agent: str, ready: list[Ready]
) -> tuple[dict[int, dict[str, Any]], list[queue.Ended]]:
    from headgate.server.api.agents import stale_text

    fates: dict[int, dict[str, Any]] = {}
    ended: list[queue.Ended] = []
    db = registry.database(hub.store)
    with db.write("applying agents' results") as conn:
        store = registry.store_in(hub.store, conn)
        outcomes = [(r.lease_id, r.fence, r.ok, r.error) for _, r, _ in ready]
        found = queue_batches.end_leases_in(conn, outcomes)  # one UPDATE for them all
        applied: list[agent_store.Calls] = []
        outputs: list[tuple[queue.Ended, list[str]]] = []
        for (place, result, calls), one in zip(ready, found, strict=True):
            if one is None:  # it ended meanwhile: its writes are not applied
                fates[place] = _refused(result, 409, stale_text(result.lease_id, result.fence))
                continue
            fates[place] = {"lease_id": result.lease_id, "accepted": True}
            ended.append(one)
            outputs.append((one, result.lines))
            applied.append(calls)
        queue_batches.keep_output_in(conn, outputs, agent)  # one INSERT for all their lines
        for method, args in merged(applied):
            getattr(store, method)(*args)
        queue.promote_finished(conn, ended)  # once for them all: locks taken in one order
    return fates, ended


def merged(batches: list[agent_store.Calls]) -> agent_store.Calls:
    """Several tasks' writes as fewer calls: the records of each method that takes one
    list of them, joined into one call (at its first place, each task's records in their
    order); every other call as it came."""
    calls: agent_store.Calls = []
    joined: dict[str, list[Any]] = {}
    for batch in batches:
        for method, args in batch:
            if method not in JOINABLE:
                calls.append((method, args))
            elif method in joined:
                joined[method].extend(args[0])
            else:
                joined[method] = list(args[0])
                calls.append((method, [joined[method]]))
    return calls


def _refused(result: Finished, status: int, error: str) -> dict[str, Any]:
    return {"lease_id": result.lease_id, "accepted": False, "status": status, "error": error}


def extend(hub: Hub, held: list[InHand], lease_seconds: float) -> list[dict[str, Any]]:
    """The leases of tasks in hand extended: whether each is still held, and cancelled."""
    lease = timedelta(seconds=lease_seconds)
    pairs = [(one.lease_id, one.fence) for one in held]
    answers = queue_batches.extend_leases(registry.database(hub.store), pairs, lease)
    return [
        {"lease_id": one.lease_id, "held": still, "cancel": cancel}
        for one, (still, cancel) in zip(held, answers, strict=True)
    ]


def take(
    hub: Hub,
    agent: str,
    labels: dict[str, str],
    lease: timedelta,
    may_work_in: Callable[[str], bool] | None,
    plans: list[int],
    wanted: int,
) -> list[dict[str, Any]]:
    """Up to ``wanted`` ready tasks leased to ``agent``, each with what comes with it."""
    from headgate.runtime.agent import environment_secrets

    db = registry.database(hub.store)
    if not agent_store.worth_claiming(hub):
        return []
    taken = claims.claim_many(db, agent, labels, lease, wanted, may_work_in=may_work_in)
    if not taken:
        return []
    works = []
    secrets: dict[str, dict[str, str]] = {}
    with quick_read(db) as conn:
        reading = registry.store_in(hub.store, conn)
        contexts = agent_store.task_contexts(hub, taken, plans, conn)
        for held, context in zip(taken, contexts, strict=True):
            environment, commit = agent_store.brief_of(hub, held.run_id)
            if environment not in secrets:
                secrets[environment] = environment_secrets(reading, hub.root, environment)
            works.append(
                agent_store.work_answer(held, environment, commit, secrets[environment], context)
            )
    return works


def _json(data: Any) -> bytes:
    import json

    return json.dumps(data, default=str).encode()
