"""Writes run records to the metadata store off the hot path.

Building a model in DuckDB can take a few milliseconds; a metadata transaction
per task would double that. Records are queued and written in batches by one
background thread. Nothing depends on them for safety: after a crash, the
warehouse's own catalog tells which physical tables exist, and interval loads
are idempotent, so a lost record costs at most a repeated range.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from headgate.state.records import ModelVersion, PhysicalRecord, TaskRecord

FLUSH_SECONDS = 0.3


class Recorder:
    def __init__(self, store: Any) -> None:
        self.store = store  # what a task writes at once (it must be there before it goes on)
        # what the batches go to: a store reached through the hub keeps them to send with
        # the task's result, fenced by its lease (runtime/hub_store.py)
        # (no thread then: keeping them costs nothing, so each goes to it at once)
        batched = getattr(type(store), "batched", None)
        self.writer: Any = batched(store) if batched is not None else store
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if batched is None:
            self._thread = threading.Thread(
                target=self._loop, name="headgate-recorder", daemon=True
            )
            self._thread.start()

    def task(self, record: TaskRecord) -> None:
        self._put(("task", record))

    def physical(self, record: PhysicalRecord) -> None:
        self._put(("physical", record))

    def metrics(
        self, run_id: int | None, model: str, table: str | None, values: dict[str, float]
    ) -> None:
        self._put(("metrics", (run_id, model, table, values)))

    def model_version(self, record: ModelVersion) -> None:
        self._put(("version", record))

    def add_interval(self, table: str, start: datetime, end: datetime) -> None:
        self._put(("add_interval", (table, start, end)))

    def call(self, function: Callable[[], None]) -> None:
        """Anything else that must be written in order with the rest."""
        self._put(("call", function))

    def _put(self, item: tuple[str, Any]) -> None:
        self._queue.put(item)
        if self._thread is None:  # kept in memory by the writer: at once, in order
            self._flush()

    def close(self) -> None:
        """Write everything queued, then stop; re-raises the first write error. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._flush()
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            try:
                self._flush()
            except BaseException as exc:  # kept and re-raised by close()
                self._error = self._error or exc

    def _flush(self) -> None:
        items: list[tuple[str, Any]] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not items:
            return
        tasks = {(r.run_id, r.name): r for kind, r in items if kind == "task"}
        physical = {r.name: r for kind, r in items if kind == "physical"}
        if physical:
            self.writer.register_physical(list(physical.values()))
        versions = [record for kind, record in items if kind == "version"]
        if versions:
            self.writer.record_model_versions(versions)
        metrics = [payload for kind, payload in items if kind == "metrics"]
        if metrics:
            self.writer.record_many_metrics(metrics)
        for kind, payload in items:
            if kind == "add_interval":
                self.writer.add_interval(*payload)
            elif kind == "call":
                payload()
        if tasks:
            self.writer.record_tasks(list(tasks.values()))
