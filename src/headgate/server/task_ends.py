"""Tasks' ends as this hub records them, told to the thread that follows their run.

An agent's result is recorded by the hub's ``complete`` endpoint; the thread following
the run (server/agentruns.py) hears of it here at once, instead of reading every task's
state from the store ten times a second. It still reads the store: a count of the run's
finished tasks when it heard nothing for a while (a result recorded by another process,
an agent with a store of its own), and every state once a second (leases that expired).
Only the ends of runs someone follows are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

Key = tuple[str, str | None, int]  # the store's URL and schema, the run's id


class TaskEnds:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._ended: dict[Key, list[tuple[str, str]]] = {}

    @staticmethod
    def key(store: Any, run_id: int) -> Key:
        return (str(store.url_for_display), store.schema, run_id)

    def follow(self, key: Key) -> None:
        with self._changed:
            self._ended.setdefault(key, [])

    def unfollow(self, key: Key) -> None:
        with self._changed:
            self._ended.pop(key, None)

    def tell(self, key: Key, task: str, state: str) -> None:
        """A task of the run ended (recorded and committed)."""
        with self._changed:
            ended = self._ended.get(key)
            if ended is not None:
                ended.append((task, state))
                self._changed.notify_all()

    def take(self, key: Key, seconds: float) -> list[tuple[str, str]]:
        """The ends told since the last take, waiting up to ``seconds`` for one."""
        with self._changed:
            if not self._ended.get(key):
                self._changed.wait_for(lambda: bool(self._ended.get(key, True)), seconds)
            ended = self._ended.get(key)
            if not ended:
                return []
            self._ended[key] = []
            return ended


TASK_ENDS = TaskEnds()


class QueueBell:
    """Claims waiting for a task, woken when a result recorded here may have made one
    ready (they also look at the queue every few tenths of a second: tasks queued by
    another process). A claim takes :meth:`mark` before it looks, so a ring between its
    look and its wait is not missed."""

    def __init__(self) -> None:
        self._rings = 0
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._guard = threading.Lock()

    def mark(self) -> int:
        with self._guard:
            return self._rings

    def ring(self) -> None:
        with self._guard:
            self._rings += 1
            waiting = list(self._waiting)
        for loop, event in waiting:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                loop.call_soon_threadsafe(event.set)

    async def wait(self, mark: int, seconds: float) -> None:
        """Until a ring after ``mark``, or ``seconds``."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._guard:
            if self._rings != mark:
                return
            self._waiting.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            with self._guard:
                self._waiting.discard(waiter)


QUEUE_BELL = QueueBell()
