"""An agent's next task, made ready at the hub while the agent carries out the current one.

Once a result handed out with the next task is applied (after its answer), the hub
picks the task that agent would take next and reads what comes with it (the run's
environment and commit, the environment's secrets, the task's context), without leasing
it: other agents may still take it. When the agent's next result asks for its next task,
that one is leased in one statement if it is still queued (and fresh), and its answer is
sent at once; otherwise the agent takes a task the usual way. What was read ahead is
what the task would have been handed a moment later: its upstream tasks were done when
it was read, so nothing it depends on changes in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from headgate.server.api import agent_store
from headgate.server.hub import Hub
from headgate.state import agents as registry
from headgate.state import claims, queue

FRESH_SECONDS = 10.0  # a task read ahead longer ago than this is read again
KEPT = 1000  # agents whose next task is kept at most
AWAITED_SECONDS = 2.0  # a next task being read ahead is waited for this long at most


@dataclass(frozen=True)
class Ready:
    queued: claims.Queued
    environment: str
    commit: str | None
    secrets: dict[str, str]
    context: dict[str, Any]
    made: float


_ready: dict[tuple[int, str], Ready] = {}  # (hub, agent) -> its next task, read ahead
_reading: dict[tuple[int, str], threading.Event] = {}  # (hub, agent) -> set once read
_guard = threading.Lock()


def expect(hub: Hub, agent: str) -> None:
    """Note that ``agent``'s next task is about to be read ahead (:func:`done` ends it)."""
    with _guard:
        while len(_reading) >= KEPT:
            _reading.pop(next(iter(_reading))).set()
        _reading[(id(hub), agent)] = threading.Event()


def done(hub: Hub, agent: str) -> None:
    """The reading ahead noted by :func:`expect` is over (whatever it found)."""
    with _guard:
        reading = _reading.pop((id(hub), agent), None)
    if reading is not None:
        reading.set()


def _awaited(hub: Hub, agent: str) -> None:
    """Wait (briefly) for the reading ahead of ``agent``'s next task, if one is under way."""
    with _guard:
        reading = _reading.get((id(hub), agent))
    if reading is not None:
        reading.wait(AWAITED_SECONDS)


def prepare(
    hub: Hub,
    agent: str,
    labels: dict[str, str],
    may_work_in: Callable[[str], bool] | None,
    plans: list[int],
) -> None:
    """Read ahead the task ``agent`` would take now (nothing when none is queued)."""
    with _guard:  # another agent's next task is left to it
        others = frozenset(
            ready.queued.id
            for key, ready in _ready.items()
            if key[0] == id(hub) and key[1] != agent
        )
    found = claims.peek(
        registry.database(hub.store), labels, may_work_in=may_work_in, passing=others
    )
    if found is None:
        return
    environment, commit = agent_store.brief_of(hub, found.run_id)
    if may_work_in is not None and not may_work_in(environment):
        return
    lease = queue.Lease(found.id, found.run_id, found.task, 0, _epoch(), 0)  # not leased
    secrets, context = agent_store.secrets_and_context(hub, lease, plans, environment)
    ready = Ready(found, environment, commit, secrets, context, time.monotonic())
    with _guard:
        while len(_ready) >= KEPT:
            _ready.pop(next(iter(_ready)))
        _ready[(id(hub), agent)] = ready


def take(
    hub: Hub, agent: str, lease: timedelta, may_work_in: Callable[[str], bool] | None
) -> dict[str, Any] | None:
    """The task read ahead for ``agent``, leased to it now with what comes with it; None
    when none was read ahead, it is stale, or it is no longer queued."""
    _awaited(hub, agent)
    with _guard:
        ready = _ready.pop((id(hub), agent), None)
    if ready is None or time.monotonic() - ready.made > FRESH_SECONDS:
        return None
    if may_work_in is not None and not may_work_in(ready.environment):
        return None
    taken = claims.take(registry.database(hub.store), ready.queued.id, agent, lease)
    if taken is None:
        return None
    return agent_store.work_answer(
        taken, ready.environment, ready.commit, ready.secrets, ready.context
    )


def forget(hub: Hub, agent: str) -> None:
    """Drop what was read ahead for ``agent`` (it registered again)."""
    with _guard:
        _ready.pop((id(hub), agent), None)
    done(hub, agent)


def _epoch() -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(0, UTC)
