"""An agent's tasks in hand: taken from the hub in batches, results reported in batches.

With ``--prefetch N`` an agent keeps up to N tasks in hand beyond the ones it runs, so
a slot that frees up begins its next task at once; how many it keeps follows how long
its tasks and its calls take (:class:`Pace`): enough for the slots not to run dry during
a call, and none when tasks are much longer than a call. One thread, the :class:`Feeder`,
talks to the hub (``POST /agents/{name}/exchange``): each call reports the results
finished since the last one, extends the leases of the tasks in hand (a third of the
lease at the latest), and asks for as many tasks as there is room for. While a call is
under way, results pile up and go together in the next one: the busier the agent, the
larger the batches and the less the hub spends per task. With nothing running, in hand
or to report, the call waits at the hub for work (long polling).

A task in hand is leased to this agent: other agents cannot take it meanwhile. Only
short tasks are kept in hand, and while another agent waits for work the hub hands out
only what idle slots take. A lease the hub says is no longer held (the
run was cancelled, or it expired) is dropped from the hand; results reach the hub after
the task began its successor, so a result refused for a stale token is logged, not
returned (the task was carried out elsewhere).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from headgate.runtime.agent import Work

if TYPE_CHECKING:
    from headgate.runtime.agent_http import HttpTransport

log = logging.getLogger(__name__)

MOST = 256  # tasks one call reports or takes at most
HOLD_SECONDS = 0.1  # a result waits this long at most for others to go with it


class Feeder:
    """Tasks in hand and results to report for one agent's slots, and the thread that
    exchanges them with the hub."""

    def __init__(self, transport: HttpTransport, capacity: int, prefetch: int) -> None:
        self._transport = transport
        self._capacity = capacity
        self._pace = Pace(capacity, prefetch)  # how many to keep in hand, up to prefetch
        self._began: dict[int, float] = {}  # lease -> when its task began
        self._held_since = 0.0  # when the oldest result waiting to be reported finished
        self._state = threading.Condition()
        self._hand: deque[Work] = deque()
        self._outbox: list[dict[str, Any]] = []
        self._running = 0
        self._asking = 0  # slots waiting for a task
        self._dry = False  # the last call found no task: ask again once something changes
        self._closing = False
        self._extended = time.monotonic()
        self._agent: tuple[str, dict[str, str], timedelta] | None = None
        self._thread: threading.Thread | None = None

    # --- the slots' side ----------------------------------------------------------------

    def claim(self, agent: str, labels: dict[str, str], lease: timedelta) -> Work | None:
        """A task in hand for a slot; waits (up to the hub's long poll and a bit) for one."""
        give_up = time.monotonic() + self._transport.wait + 5.0
        with self._state:
            self._agent = (agent, dict(labels), lease)
            self._start()
            self._asking += 1
            self._state.notify_all()
            try:
                while not self._hand and not self._closing:
                    left = give_up - time.monotonic()
                    if left <= 0:
                        return None
                    self._state.wait(left)
                if not self._hand:
                    return None
                self._running += 1
                work = self._hand.popleft()
                self._began[work.lease.id] = time.monotonic()
            finally:
                self._asking -= 1
            self._state.notify_all()  # room for one more in hand
            return work

    def finished(self, body: dict[str, Any]) -> None:
        """A slot's result, reported with the next call."""
        with self._state:
            if not self._outbox:
                self._held_since = time.monotonic()
            self._outbox.append(body)
            began = self._free_slot(int(body["lease_id"]))
            if began is not None:
                self._pace.task_took(time.monotonic() - began)

    def lost(self, lease_id: int) -> None:
        """A slot's task whose lease ended before it did: nothing to report, the slot is free."""
        with self._state:
            self._free_slot(lease_id)

    def _free_slot(self, lease_id: int) -> float | None:
        """The slot that ran ``lease_id`` is free (under the lock); when its task began."""
        self._running -= 1
        self._dry = False
        self._state.notify_all()
        return self._began.pop(lease_id, None)

    def close(self) -> list[Work]:
        """Report what is left and stop; the tasks in hand, not begun (to give back)."""
        with self._state:
            self._closing = True
            self._state.notify_all()
            thread = self._thread
        self._transport.stopping()
        if thread is not None:
            thread.join()
        with self._state:
            left, self._hand = list(self._hand), deque()
        return left

    # --- the hub's side -------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="headgate-agent-feeder", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._state:
                while not self._due():
                    self._state.wait(self._until_extension())
                if self._closing and not self._outbox:
                    return
                body, sent = self._next_call()
            began = time.monotonic()
            try:
                answer = self._transport.exchange(self._agent_name(), body)
                if not body["wait_seconds"]:
                    self._pace.call_took(time.monotonic() - began)
            except Exception as exc:  # the results go again with the next call
                if self._closing:  # past their leases they would be refused anyway
                    with self._state:  # with those finished while the call went on
                        unreported = len(sent) + len(self._outbox)
                    log.warning(
                        "stopping without reporting %d result(s): the hub was not reached (%s); "
                        "their tasks go back to the queue when their leases end",
                        unreported,
                        exc,
                    )
                    return
                log.warning("the hub was not reached: %s", exc)
                with self._state:
                    self._outbox[:0] = sent
                    self._held_since = time.monotonic()
                    self._dry = True
                time.sleep(1.0)
                continue
            self._take(answer)

    @property
    def _room(self) -> int:
        """Tasks running and in hand at most, as the pace says now."""
        return self._capacity + self._pace.keep

    def _due(self) -> bool:
        """Whether to call the hub now: results wait for the hand to run low (what the
        slots use up during a call), a slot with none, or ``HOLD_SECONDS``, so that they
        go together."""
        if self._closing or self._agent is None:
            return self._closing
        now = time.monotonic()
        if self._hand and now - self._extended >= self._extension_seconds():
            return True
        hungry = self._asking > 0 or self._pace.running_low(len(self._hand))
        if self._outbox and (hungry or now - self._held_since >= HOLD_SECONDS):
            return True
        room = self._room - len(self._hand) - self._running
        if room <= 0 or not hungry:
            return False
        if self._dry:  # the queue was empty: wait at the hub only when nothing runs here
            return self._running == 0 and self._asking > 0 and not self._outbox
        return True

    def _next_call(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        assert self._agent is not None
        sent, self._outbox = self._outbox[:MOST], self._outbox[MOST:]
        _, _, lease = self._agent
        room = 0 if self._closing else max(self._room - len(self._hand) - self._running, 0)
        held: list[dict[str, int]] = []
        if self._hand and time.monotonic() - self._extended >= self._extension_seconds():
            held = [{"lease_id": w.lease.id, "fence": w.lease.fence} for w in self._hand]
            self._extended = time.monotonic()
        idle = not sent and self._running == 0 and not self._hand
        body = {
            "results": sent,
            "held": held[:MOST],
            "want": min(room, MOST),
            "free": max(self._capacity - self._running - len(self._hand), 0),
            "lease_seconds": lease.total_seconds(),
            "wait_seconds": self._transport.wait if idle and self._dry else 0.0,
            "plans": self._transport.plans_held(),
        }
        return body, sent

    def _take(self, answer: dict[str, Any]) -> None:
        from headgate.runtime.agent_http import work_of

        for fate in answer.get("results", []):
            if not fate.get("accepted"):
                log.warning("result of lease %s refused: %s", fate["lease_id"], fate.get("error"))
        lost = {int(h["lease_id"]) for h in answer.get("held", []) if not h.get("held")}
        lost |= {int(h["lease_id"]) for h in answer.get("held", []) if h.get("cancel")}
        works = [work_of(data) for data in answer.get("tasks", [])]
        with self._state:
            if lost:
                self._hand = deque(w for w in self._hand if w.lease.id not in lost)
            self._hand.extend(works)
            self._dry = not works
            self._state.notify_all()

    def _agent_name(self) -> str:
        assert self._agent is not None
        return self._agent[0]

    def _extension_seconds(self) -> float:
        lease = self._agent[2] if self._agent is not None else timedelta(seconds=30)
        return max(lease.total_seconds() / 3, 0.05)

    def _until_extension(self) -> float:
        """How long the feeder may sleep: until a lease in hand or a result is due."""
        now = time.monotonic()
        due = self._extension_seconds()
        if self._hand:
            due = self._extension_seconds() - (now - self._extended)
        if self._outbox:
            due = min(due, HOLD_SECONDS - (now - self._held_since))
        return max(due, 0.005)


class Pace:
    """How many tasks to keep in hand: enough that the slots do not run dry while a call
    is under way, no more.

    The slots use up ``capacity x call / task`` tasks during one call (from the moving
    averages of how long calls and tasks take). The hand is refilled when it holds no more
    than three times that, up to six times that (never more than ``prefetch``), so each
    call reports and takes about what three calls' time uses up: the slower the hub
    answers, the larger the batches, and the hub's work per call (a request, its
    authentication, a transaction, a claim) is shared by more tasks. Tasks much longer than
    a call keep none in hand: a slot asks when it is free, and no task waits here that
    another agent could begin.
    """

    WEIGHT = 0.2  # of the newest figure in the moving averages
    LOW = 3.0  # refill when the hand holds no more than this many calls' worth
    FULL = 6.0  # up to this many calls' worth

    def __init__(self, capacity: int, prefetch: int) -> None:
        self.capacity = capacity
        self.prefetch = prefetch
        self.call_seconds = 0.02
        self.task_seconds: float | None = None  # none finished yet

    def task_took(self, seconds: float) -> None:
        self.task_seconds = self._averaged(self.task_seconds, seconds)

    def call_took(self, seconds: float) -> None:
        self.call_seconds = self._averaged(self.call_seconds, seconds)

    @property
    def used_per_call(self) -> float:
        """Tasks the slots use up while one call is under way."""
        if self.task_seconds is None:  # until one has finished: none kept in hand
            return 0.0
        return self.capacity * self.call_seconds / max(self.task_seconds, 1e-4)

    @property
    def keep(self) -> int:
        """Tasks to keep in hand at most, beyond those running."""
        return min(self.prefetch, math.ceil(self.FULL * self.used_per_call - 0.5))

    def running_low(self, in_hand: int) -> bool:
        """Whether to ask for more: the hand holds no more than three calls use up."""
        return in_hand <= min(self.keep, self.LOW * self.used_per_call)

    def _averaged(self, old: float | None, new: float) -> float:
        return new if old is None else old + self.WEIGHT * (new - old)
