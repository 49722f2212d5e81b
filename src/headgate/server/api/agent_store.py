"""The metadata store for agents outside the hub's network: fenced reads and writes.

An agent never opens the project's store: what its task needs comes with the task (see
:func:`task_context`: the run's plan once per run, the specs its upstream tasks ended
with, the records of its tables), it asks the rest of ``/store/read``, and it sends what
it wrote with its result (``complete``), its output, or ``/store/write`` for a write that
must not wait. Each call carries the lease's fencing token: a stale one is refused with
409 and nothing of it is applied. A write is applied only for the run the lease belongs
to and, for task, physical-table and metric records, only for the task it holds. Only
the methods of :data:`headgate.runtime.hub_store.READS` and ``WRITES`` are served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from headgate.errors import HeadgateError
from headgate.runtime.hub_store import (
    READS,
    WRITES,
    decode_call,
    encode,
    ended_node,
    plan_from_parts,
)
from headgate.runtime.hub_store import task_tables as tables_of_task
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires
from headgate.state import agents as registry
from headgate.state import quality, queue
from headgate.state.quickread import quick_read

if TYPE_CHECKING:
    from sqlalchemy import Connection

T = TypeVar("T")
router = APIRouter(tags=["agents"])
LeaseId = Annotated[int, Path(ge=1, le=2**62)]
WriteList = list[tuple[Annotated[str, Field(max_length=100)], list[Any]]]
Calls = list[tuple[str, list[Any]]]  # writes as the store is called: arguments decoded
HOLD_SECONDS = 60.0  # a lease is held at least this long while its writes are applied
KEPT_PLANS = 8  # runs whose plan the hub keeps parsed


class Read(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fence: int = Field(ge=1, le=2**62)
    method: str = Field(max_length=100)
    args: list[Any] = Field(default_factory=list, max_length=10)


class Writes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fence: int = Field(ge=1, le=2**62)
    writes: WriteList = Field(max_length=100_000)


class Refused(HeadgateError):
    """A write for another run or task than the lease's."""

    status = 403


@router.post(
    "/agents/tasks/{lease_id}/store/read",
    summary="Read the metadata store for a leased task (whitelisted methods; 409: not held)",
    response_model=None,  # JSON as it is: no validation in another worker thread
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
def read(lease_id: LeaseId, body: Read, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    task = held(hub, lease_id, body.fence)
    args = decode_call(body.method, body.args, READS)
    return {"value": encode(answer(hub, task, body.method, args))}


@router.post(
    "/agents/tasks/{lease_id}/store/write",
    status_code=204,
    summary="Writes of a leased task, applied while its lease is held (409: stale, none applied)",
    dependencies=[Depends(requires(Permission.AGENTS_WORK))],
)
def write(lease_id: LeaseId, body: Writes, hub: Hub = Depends(get_hub)) -> Response:
    apply_writes(hub, lease_id, body.fence, body.writes)
    return Response(status_code=204)


def held(hub: Hub, lease_id: int, fence: int) -> registry.QueuedTask:
    """The leased task, if ``fence`` is its current token; else 409."""
    from headgate.server.api.agents import stale

    task = registry.leased(registry.database(hub.store), lease_id, fence)
    if task is None:
        raise stale(lease_id, fence)
    return task


def answer(hub: Hub, task: registry.QueuedTask, method: str, args: list[Any]) -> Any:
    db = registry.database(hub.store)
    if method == "physical_named":
        names, model = [*args, None, None][:2]
        return registry.physical_named(db, [str(n) for n in names or []], model)
    if method == "run_plan_parts":
        return registry.plan_parts(db, task.run_id)
    if method == "env_models":
        environment, _ = brief_of(hub, task.run_id)
        if args[:1] != [environment]:
            raise Refused(
                f"the task of run {task.run_id} reads only its own environment, {environment}"
            )
    return getattr(hub.store, method)(*args)


def apply_writes(
    hub: Hub,
    lease_id: int,
    fence: int,
    writes: WriteList,
    *,
    then: Callable[[Connection], T] | None = None,
    hold: Callable[[Connection], queue.Held | None] | None = None,
    calls: Calls | None = None,
) -> T | None:
    """Apply a leased task's writes, and ``then`` (its completion), in one transaction.

    The lease is taken hold of first, with the fence (``hold``: extended, by default; a
    result ends it instead), and its row stays locked until the transaction ends: it
    cannot expire and go to another agent meanwhile. A stale token, or any write
    refused, applies nothing. ``calls``: the writes decoded already (check_writes).
    """
    from headgate.server.api.agents import stale

    calls = decoded_writes(writes) if calls is None else calls
    db = registry.database(hub.store)
    with db.write("applying an agent's writes") as conn:
        if hold is None:
            task = queue.hold(conn, lease_id, fence, timedelta(seconds=HOLD_SECONDS))
        else:
            task = hold(conn)
        if task is None:
            raise stale(lease_id, fence)
        for method, args in calls:
            owned(task, method, args)
        store = registry.store_in(hub.store, conn)
        for method, args in calls:
            getattr(store, method)(*args)
        return then(conn) if then is not None else None


def decoded_writes(writes: WriteList | Calls) -> Calls:
    """The writes' calls, their arguments decoded (a method agents may not call refused)."""
    return [(method, decode_call(method, args, WRITES)) for method, args in writes]


def check_writes(hub: Hub, lease_id: int, fence: int, writes: WriteList) -> Calls:
    """The writes a leased task sends with its result, decoded and checked before the
    result is answered (409: the token is stale; 403: a write that is not its task's);
    they are applied later, with the fence checked again as the lease ends."""
    task = held(hub, lease_id, fence)
    calls = decoded_writes(writes)
    owner = queue.Held(task.id, task.run_id, task.task, task.attempts)
    for method, args in calls:
        owned(owner, method, args)
    return calls


def owned(task: queue.Held, method: str, args: list[Any]) -> None:
    """Refuse a write for another run, or a record of another task."""
    run, name = task.run_id, task.task
    pairs: list[tuple[Any, Any]] = []
    if method == "record_tasks":
        pairs = [(r.run_id, r.name) for r in args[0]]
    elif method == "register_physical":
        pairs = [(r.run_id, r.model) for r in args[0]]
    elif method == "record_model_versions":
        pairs = [(run, r.model) for r in args[0]]
    elif method == "record_many_metrics":
        pairs = [(batch[0], batch[1]) for batch in args[0]]
    elif method == "record_metrics":
        pairs = [(args[0], args[1])]
    elif method == "keep_chart":
        pairs = [(run, args[0])]
    elif method == "record_check_results":
        pairs = [(args[0], name)] + [(r.run_id or run, name) for r in args[1]]
    for run_id, owner in pairs:
        if run_id != run or owner != name:
            raise Refused(
                f"lease {task.id} holds {name} of run {run}: it cannot write {method} for "
                f"{owner} of run {run_id}",
                hint="an agent writes only the records of the task it holds",
            )


# --- what comes with a task ---------------------------------------------------------------

_plans: dict[tuple[int, int], tuple[Any, Any]] = {}  # (hub, run) -> (parts, plan)
_briefs: dict[tuple[int, int], tuple[str, str | None]] = {}  # (hub, run) -> env, commit
_plans_guard = threading.Lock()


def secrets_and_context(
    hub: Hub, lease: queue.Lease, plans: list[int], environment: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """The environment's secrets and :func:`task_context`, read on one connection
    outside a transaction (no BEGIN and ROLLBACK around each read)."""
    from headgate.runtime.agent import environment_secrets

    with quick_read(registry.database(hub.store)) as conn:
        secrets = environment_secrets(registry.store_in(hub.store, conn), hub.root, environment)
        return secrets, task_context(hub, lease, plans, conn)


def task_context(
    hub: Hub, lease: queue.Lease, plans: list[int], conn: Connection | None = None
) -> dict[str, Any]:
    """What the task needs from the store, sent with it: the run's plan (unless the agent
    holds it), what its upstream tasks ended with, the records of its tables (and which
    of them have none yet), and its model's previous row count (read on ``conn``, or on
    a connection of its own)."""
    return task_contexts(hub, [lease], plans, conn)[0]


def task_contexts(
    hub: Hub, leases: list[queue.Lease], plans: list[int], conn: Connection | None = None
) -> list[dict[str, Any]]:
    """:func:`task_context` of several tasks, read together: one query per run for what
    their upstream tasks ended with, one for their tables' records, one for their
    models' previous row counts."""
    if conn is None:
        with quick_read(registry.database(hub.store)) as own:
            return task_contexts(hub, leases, plans, own)
    db: Any = registry.OneConnection(registry.database(hub.store), conn)
    contexts: list[dict[str, Any]] = []
    nodes: list[Any] = []
    for lease in leases:
        parts, plan = _plan_of(hub, lease.run_id)
        nodes.append(plan.nodes.get(lease.task) if plan is not None else None)
        contexts.append(
            {
                "plan": None if lease.run_id in plans else parts,
                "upstream": {},
                "physical": {},
                "asked": [],
                "reads": [],
            }
        )
    upstream = _upstream_specs(hub, db, leases, nodes)
    for lease, node, context in zip(leases, nodes, contexts, strict=True):
        if node is None:
            continue
        _, plan = _plan_of(hub, lease.run_id)
        mine = {n: upstream[lease.run_id][n] for n in node.upstream if n in upstream[lease.run_id]}
        ended = {name: ended_node(status, spec) for name, (status, spec) in mine.items()}
        context["upstream"] = mine
        context["asked"] = tables_of_task(plan, lease.task, ended)
    asked = sorted({name for context in contexts for name in context["asked"]})
    tasks = [lease.task for lease, node in zip(leases, nodes, strict=True) if node is not None]
    records = registry.physical_of(db, asked, tasks)
    models = [lease.task for lease, node in zip(leases, nodes, strict=True) if _model(node)]
    counts = quality.latest_metrics(db, models, "row_count")
    for lease, node, context in zip(leases, nodes, contexts, strict=True):
        if node is None:
            continue
        names = set(context["asked"])
        found = {k: r for k, r in records.items() if k in names or r.model == lease.task}
        context["physical"] = encode(found)
        if _model(node):
            rows = encode(counts.get(lease.task))
            context["reads"] = [["previous_row_count", encode([lease.task]), rows]]
    return contexts


def _model(node: Any) -> bool:
    return node is not None and node.kind == "model"


def _upstream_specs(
    hub: Hub, db: Any, leases: list[queue.Lease], nodes: list[Any]
) -> dict[int, dict[str, tuple[str, Any]]]:
    """Per run, the (status, spec) of the upstream tasks of the tasks of ``leases``."""
    wanted: dict[int, set[str]] = {lease.run_id: set() for lease in leases}
    for lease, node in zip(leases, nodes, strict=True):
        if node is not None:
            wanted[lease.run_id].update(node.upstream)
    return {run: registry.task_specs(db, run, sorted(names)) for run, names in wanted.items()}


def work_answer(
    lease: queue.Lease, environment: str, commit: str | None, secrets: Any, context: Any
) -> dict[str, Any]:
    """A taken task as the agent receives it: its lease and what comes with it."""
    from headgate.server.api.common import jsonable

    return {
        "lease": jsonable(lease),
        "environment": environment,
        "git_commit": commit,
        "secrets": secrets,
        "context": context,
    }


def worth_claiming(hub: Hub) -> bool:
    """Leases past their end sent back (at most every so often), then whether a claim may
    find anything: on SQLite a read first, so the one writer is not taken for nothing."""
    from headgate.server.api.agents import sweep_due

    sweep_due(hub)
    db = registry.database(hub.store)
    return db.engine.dialect.name == "postgresql" or queue.has_queued(db)


def brief_of(hub: Hub, run_id: int) -> tuple[str, str | None]:
    """A run's environment and commit (they never change: kept per run)."""
    key = (id(hub), run_id)
    with _plans_guard:
        kept = _briefs.get(key)
    if kept is None:
        kept = registry.run_brief(registry.database(hub.store), run_id)
        with _plans_guard:
            while len(_briefs) >= 100:
                _briefs.pop(next(iter(_briefs)))
            _briefs[key] = kept
    return kept


def _plan_of(hub: Hub, run_id: int) -> tuple[Any, Any]:
    """The run's plan as stored and parsed, kept for the newest runs; (None, None) when
    the run has none (its tasks fail on the agent, saying so)."""
    key = (id(hub), run_id)
    with _plans_guard:
        kept = _plans.get(key)
    if kept is not None:
        return kept
    parts = registry.plan_parts(registry.database(hub.store), run_id)
    if parts is None:
        return None, None
    found = (parts, plan_from_parts(*parts))
    with _plans_guard:
        while len(_plans) >= KEPT_PLANS:
            _plans.pop(next(iter(_plans)))
        _plans[key] = found
    return found
