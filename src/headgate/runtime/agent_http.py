"""An agent's link to the hub over HTTP: it calls out, long polls for work, and rides out outages.

:class:`HttpTransport` speaks the hub's agent API (``/api/v1/agents``): it registers,
asks for a task (the hub holds the request until one comes or ``wait`` runs out),
heartbeats, sends the task's output and reports the result with the fencing token. When
the hub cannot be reached (a restart, a network cut) it tries again with a growing pause,
so the agent reconnects by itself; a heartbeat that cannot get through before the lease
ends counts as lost (the hub will have handed the task to another agent by then).
Every request carries ``Authorization: Bearer <token>`` when a token is given.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from headgate import __version__
from headgate.errors import HeadgateError
from headgate.runtime.agent import PlanCache, Prepared, Work, task_plan
from headgate.runtime.agent_exchange import Feeder
from headgate.runtime.hub_store import HubStore, PhysicalRegistry, Write
from headgate.state.queue import Lease

log = logging.getLogger(__name__)

API = "/api/v1"
RETRY_STATUSES = {502, 503, 504}
FIRST_PAUSE = 0.2  # seconds before the first retry; doubled up to MAX_PAUSE
MAX_PAUSE = 5.0


class Unreachable(HeadgateError):
    """The hub did not answer within the time the call may take."""

    transient = True


class HttpTransport:
    """The hub's agent API, for an agent outside the hub's network."""

    def __init__(
        self,
        hub: str,
        *,
        token: str | None = None,
        capacity: int = 1,
        wait: float = 20.0,
        prefetch: int = 0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.hub = hub.rstrip("/")
        self.capacity = capacity
        self.wait = wait
        self.sleep = sleep
        headers = {"User-Agent": f"headgate-agent/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=self.hub + API, headers=headers, timeout=httpx.Timeout(timeout + wait)
        )
        self._registered: tuple[str, dict[str, str]] | None = None
        self._stopping = False  # then a call the hub does not answer gives up after a lease
        self._lease_end: dict[int, datetime] = {}  # as the last heartbeat extended it
        self._lease = timedelta(seconds=30)  # asked for at the last claim
        # per thread: tasks that came with a result reported, not begun
        self._next: dict[int, list[Work]] = {}
        self._guard = threading.Lock()
        self._plans = PlanCache()  # runs' plans, sent by the hub once per run
        self._stores: dict[int, HubStore] = {}  # per lease: the store its task writes through
        # tasks kept in hand beyond those running, taken and reported in batches
        self._feeder = Feeder(self, capacity, prefetch) if prefetch > 0 else None

    def stopping(self) -> None:
        """The agent is stopping: a call the hub does not answer, under way or to come,
        gives up after a lease's time instead of trying forever (its result would be
        refused by then, and the task carried out elsewhere)."""
        self._stopping = True

    def close(self) -> None:
        """Give back the tasks kept and not begun, then close the connections."""
        with self._guard:
            kept = [work for held in self._next.values() for work in held]
            self._next = {}
        kept += self._feeder.close() if self._feeder is not None else []
        for work in kept:
            try:
                self._call(
                    "POST",
                    f"/agents/tasks/{work.lease.id}/release",
                    {"fence": work.lease.fence},
                    give_up=datetime.now(UTC) + timedelta(seconds=MAX_PAUSE),
                )
            except HeadgateError as exc:  # its lease will end and it goes back by itself
                log.warning("task %s not given back: %s", work.lease.task, exc)
        self._client.close()

    # --- the Transport protocol ---------------------------------------------------------

    def register(self, agent: str, labels: dict[str, str]) -> None:
        body = {
            "name": agent,
            "labels": labels,
            "capacity": self.capacity,
            "version": __version__,
            "host": socket.gethostname(),
            "every_seconds": self.wait + 5.0,
        }
        answer = self._call("POST", "/agents", body, give_up=None)
        warning = answer.json().get("warning") if answer.status_code == 200 else None
        if warning and self._registered is None:  # once, when the agent starts
            log.warning("the hub says no run for agents can start there: %s", warning)
        self._registered = (agent, dict(labels))

    def claim(self, agent: str, labels: dict[str, str], lease: timedelta) -> Work | None:
        self._lease = lease
        if self._feeder is not None:
            if self._registered != (agent, labels):
                self.register(agent, labels)
            return self._feeder.claim(agent, labels, lease)
        kept = self._kept_next()
        if kept is not None:
            return kept
        if self._registered != (agent, labels):
            self.register(agent, labels)
        body = {
            "lease_seconds": lease.total_seconds(),
            "wait_seconds": self.wait,
            "plans": self._plans.held(),
        }
        answer = self._call("POST", f"/agents/{agent}/claim", body, give_up=None)
        if answer.status_code == 404:  # the hub forgot it (a new store): register again
            self._registered = None
            return None
        if answer.status_code == 204:
            return None
        return work_of(answer.json())

    def prepare(self, work: Work) -> Prepared:
        """The task's plan and store: from what came with it, asking the hub the rest."""
        from headgate.runtime.hub_store import answers_of, decode, ended_node, plan_from_parts

        lease, context = work.lease, work.context or {}
        given = context.get("plan")

        def load() -> Any:
            if not given:  # the hub thought it held it: it was let go of since
                parts = self._read(lease, "run_plan_parts", [lease.run_id])
                return plan_from_parts(*parts)
            return plan_from_parts(given[0], given[1])

        plan = self._plans.get(lease.run_id, load)
        ended = {n: ended_node(s, spec) for n, (s, spec) in context.get("upstream", {}).items()}
        store = HubStore(
            lambda method, args: self._read(lease, method, args),
            lambda writes: self._write(lease, writes),
            answers=answers_of(context.get("reads") or []),
        )
        with self._guard:
            self._stores[lease.id] = store
        held = decode(context.get("physical") or {})
        registry = PhysicalRegistry(held, store.physical_named, context.get("asked") or ())
        return Prepared(task_plan(plan, lease.task, ended), store, registry)

    def heartbeat(self, lease: Lease, extend: timedelta) -> tuple[bool, bool]:
        body = {"fence": lease.fence, "lease_seconds": extend.total_seconds()}
        sent = datetime.now(UTC)
        until = self._lease_end.get(lease.id, lease.lease_until)
        try:
            answer = self._call("POST", f"/agents/tasks/{lease.id}/heartbeat", body, give_up=until)
        except Unreachable:
            return False, False  # past the lease's end: another agent has it by now
        data = answer.json()
        held = bool(data.get("held"))
        if held:
            self._lease_end[lease.id] = sent + extend
        else:
            with self._guard:
                self._stores.pop(lease.id, None)  # its writes go nowhere now
        return held, bool(data.get("cancel"))

    def output(self, lease: Lease, lines: list[str]) -> None:
        body = {"fence": lease.fence, "lines": lines, "agent": self._name()}
        body["writes"] = self._pending(lease)
        give_up = datetime.now(UTC) + timedelta(seconds=MAX_PAUSE)
        self._call("POST", f"/agents/tasks/{lease.id}/output", body, give_up=give_up)

    def complete(
        self, lease: Lease, *, ok: bool, error: str | None, lines: list[str] | None = None
    ) -> bool:
        """Report the result, asking for this thread's next task with it (kept for the
        next claim); with a feeder, the result goes with its next exchange."""
        body: dict[str, Any] = {"fence": lease.fence, "ok": ok, "error": error}
        body |= {"lines": lines or [], "agent": self._name(), "plans": self._plans.held()}
        me = threading.get_ident()
        with self._guard:
            store = self._stores.pop(lease.id, None)
            kept = len(self._next.get(me, []))
        body["writes"] = store.take_pending() if store is not None else []
        if self._feeder is not None:  # reported with the next exchange
            self._lease_end.pop(lease.id, None)
            self._feeder.finished(
                {k: body[k] for k in ("fence", "ok", "error", "lines", "writes")}
                | {"lease_id": lease.id}
            )
            return True
        if self._name() is not None and kept <= 1:
            body["next_lease_seconds"] = self._lease.total_seconds()  # the next task, at once
        answer = self._call("POST", f"/agents/tasks/{lease.id}/complete", body, give_up=None)
        self._lease_end.pop(lease.id, None)
        if answer.status_code != 200:
            return False
        self._keep_next(me, answer.json().get("next"))
        return True

    def lost(self, lease: Lease) -> None:
        """The task's lease ended before its result: what was kept for it is let go, and
        its slot is free for the next task in hand."""
        self._lease_end.pop(lease.id, None)
        with self._guard:
            self._stores.pop(lease.id, None)
        if self._feeder is not None:
            self._feeder.lost(lease.id)

    def exchange(self, agent: str, body: dict[str, Any]) -> dict[str, Any]:
        """One call of the exchange: results reported, leases extended, tasks taken."""
        answer = self._call("POST", f"/agents/{agent}/exchange", body, give_up=None)
        if answer.status_code == 404 and self._registered is not None:  # a new store
            self.register(*self._registered)
            answer = self._call("POST", f"/agents/{agent}/exchange", body, give_up=None)
        if answer.status_code != 200:
            raise HeadgateError(f"the hub refused the exchange: {_detail(answer)}")
        data: dict[str, Any] = answer.json()
        return data

    def plans_held(self) -> list[int]:
        return self._plans.held()

    # --- the next task, brought by a result ---------------------------------------------

    def _keep_next(self, me: int, data: dict[str, Any] | None) -> None:
        if data:
            with self._guard:
                self._next.setdefault(me, []).append(work_of(data))

    def _kept_next(self) -> Work | None:
        """This thread's task that came with its last result, if one did."""
        with self._guard:
            held = self._next.get(threading.get_ident())
            return held.pop(0) if held else None

    # --- the store, through the hub --------------------------------------------------------

    def _pending(self, lease: Lease) -> list[Write]:
        with self._guard:
            store = self._stores.get(lease.id)
        return store.take_pending() if store is not None else []

    def _read(self, lease: Lease, method: str, args: Any) -> Any:
        from headgate.runtime.hub_store import decode

        body = {"fence": lease.fence, "method": method, "args": args}
        path = f"/agents/tasks/{lease.id}/store/read"
        answer = self._call("POST", path, body, give_up=self._until(lease))
        if answer.status_code != 200:
            raise HeadgateError(
                f"the hub refused to read {method} for {lease.task}: {_detail(answer)}",
                hint="the task's lease was lost; another agent carries it out",
            )
        return decode(answer.json()["value"])

    def _write(self, lease: Lease, writes: list[Write]) -> None:
        body = {"fence": lease.fence, "writes": writes}
        path = f"/agents/tasks/{lease.id}/store/write"
        answer = self._call("POST", path, body, give_up=self._until(lease))
        if answer.status_code != 204:
            raise HeadgateError(
                f"the hub refused the writes of {lease.task}: {_detail(answer)}",
                hint="the task's lease was lost; another agent carries it out",
            )

    def _until(self, lease: Lease) -> datetime:
        return self._lease_end.get(lease.id, lease.lease_until)

    # --- calls ----------------------------------------------------------------------------

    def _name(self) -> str | None:
        return self._registered[0] if self._registered else None

    def _call(
        self, method: str, path: str, body: dict[str, Any], *, give_up: datetime | None
    ) -> httpx.Response:
        """The hub's answer; retried while it cannot be reached (until ``give_up``, if set).

        A 4xx other than 404/409 is a mistake of this agent's (a bad token, a bad
        request): it is raised, with the hub's words.
        """
        pause = FIRST_PAUSE
        while True:
            try:
                answer = self._client.request(method, path, json=body)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if answer.status_code < 400 or answer.status_code in (404, 409):
                    return answer
                if answer.status_code not in RETRY_STATUSES:
                    raise HeadgateError(
                        f"the hub refused {method} {path}: {answer.status_code} {_detail(answer)}",
                        hint="check --token (HEADGATE_TOKEN) and that the hub and agent "
                        "versions match",
                    )
                reason = f"{answer.status_code} {_detail(answer)}"
            if give_up is None and self._stopping:
                give_up = datetime.now(UTC) + self._lease
            if give_up is not None and datetime.now(UTC) + timedelta(seconds=pause) >= give_up:
                raise Unreachable(f"the hub at {self.hub} did not answer in time: {reason}")
            log.warning(
                "hub at %s unreachable (%s); trying again in %.1f s", self.hub, reason, pause
            )
            self.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)


def work_of(data: dict[str, Any]) -> Work:
    held = data["lease"]
    taken = Lease(
        id=int(held["id"]),
        run_id=int(held["run_id"]),
        task=str(held["task"]),
        fence=int(held["fence"]),
        lease_until=datetime.fromisoformat(held["lease_until"]),
        attempt=int(held["attempt"]),
    )
    secrets = {str(k): str(v) for k, v in (data.get("secrets") or {}).items()}
    environment = str(data.get("environment") or "")
    return Work(taken, environment, secrets, data.get("git_commit"), data.get("context"))


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", ""))[:500]
    except ValueError:
        return answer.text[:500]
