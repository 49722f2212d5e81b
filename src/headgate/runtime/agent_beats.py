"""An agent's heartbeats: one thread extends the leases of all its running tasks.

While a task runs, its lease is extended every third of the lease's length, the lines it
printed meanwhile go to the hub, and the answer says whether the lease is still held (if
not, the task's result would be refused) and whether the run was cancelled. One thread
does this for every task the agent runs, started when a task begins and left running a
while after the last one ends, so a task of a few milliseconds costs no thread of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headgate.state.queue import Lease

log = logging.getLogger(__name__)

LINGER_SECONDS = 5.0  # the thread waits this long for a next task before it ends


@dataclass(eq=False)
class Beat:
    """One running task's heartbeat: its lease, its output, and what the hub said."""

    lease: Lease
    output: Any  # runtime.agent.TaskOutput
    due: float
    lost: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)


class Heartbeats:
    """The running tasks of one agent, and the thread that heartbeats them."""

    def __init__(self, agent: str, transport: Any, lease: timedelta) -> None:
        self._agent = agent
        self._transport = transport
        self._lease = lease
        self._every = max(lease.total_seconds() / 3, 0.05)
        self._beats: set[Beat] = set()
        self._sending: Beat | None = None  # the beat whose call is under way
        self._state = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, lease: Lease, output: Any) -> Beat:
        """Heartbeat ``lease`` from now on, sending ``output``'s lines with each beat."""
        beat = Beat(lease, output, time.monotonic() + self._every)
        with self._state:
            self._beats.add(beat)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="headgate-agent-heartbeats", daemon=True
                )
                self._thread.start()
            self._state.notify_all()
        return beat

    def stop_watching(self, beat: Beat) -> None:
        """No more beats for this task; returns once none of its is under way, so what
        ``beat`` says (lost, cancelled) is final."""
        with self._state:
            self._beats.discard(beat)
            while self._sending is beat:
                self._state.wait()
            self._state.notify_all()

    def _loop(self) -> None:
        while True:
            with self._state:
                beat = self._next_due()
                if beat is None:
                    self._thread = None
                    return
                self._sending = beat
            try:
                self._send(beat)
            except Exception as exc:  # one failed beat must not stop the others
                log.warning("%s: heartbeat of %s failed: %s", self._agent, beat.lease.task, exc)
            finally:
                with self._state:
                    self._sending = None
                    beat.due = time.monotonic() + self._every
                    if beat.lost.is_set():
                        self._beats.discard(beat)
                    self._state.notify_all()

    def _next_due(self) -> Beat | None:
        """The beat to send now, waiting for one to come due (None: idle for too long)."""
        idle_since = time.monotonic()
        while True:
            now = time.monotonic()
            if not self._beats:
                if now - idle_since >= LINGER_SECONDS:
                    return None
                self._state.wait(LINGER_SECONDS - (now - idle_since))
                continue
            idle_since = now
            first = min(self._beats, key=lambda b: b.due)
            if first.due <= now:
                return first
            self._state.wait(first.due - now)

    def _send(self, beat: Beat) -> None:
        held, cancel = self._transport.heartbeat(beat.lease, self._lease)
        if not held:
            beat.lost.set()
            return
        if cancel:
            beat.cancelled.set()
        lines = beat.output.take()
        if lines:
            try:
                self._transport.output(beat.lease, lines)
            except Exception as exc:  # output is worth less than the task: it goes on
                log.warning("%s: output of %s not sent: %s", self._agent, beat.lease.task, exc)
