"""Agents: processes in a site that take a run's tasks, one lease at a time, and carry them out.

An agent asks for work (it reaches out; nothing reaches in), takes a task under a lease
with a fencing token, heartbeats while it works, and reports the result with the token.
If it dies or loses its link for longer than the lease, the task goes back to the queue
and another agent takes it; the dead agent's late result carries a stale token and is
refused, so a task is applied once. The agent builds with its own site's engine (the
project's ``engine:`` as its checkout declares it) and its own secrets.

How an agent reaches the queue is a :class:`Transport`: :class:`StoreTransport` talks to
the metadata store directly (an agent inside the hub's network); the hub's HTTP API
offers the same four calls to agents outside it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from headgate.state.queue import Lease
    from headgate.state.store import StateStore

log = logging.getLogger(__name__)


class Transport(Protocol):
    def claim(self, agent: str, labels: dict[str, str], lease: timedelta) -> Lease | None: ...

    def heartbeat(self, lease: Lease, extend: timedelta) -> tuple[bool, bool]: ...

    def complete(self, lease: Lease, *, ok: bool, error: str | None) -> bool: ...


class StoreTransport:
    """The queue in the metadata store, for agents that can reach it."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def claim(self, agent: str, labels: dict[str, str], lease: timedelta) -> Lease | None:
        self.store.expire_leases()  # leases past their end are free again
        return self.store.claim_task(agent, labels, lease)

    def heartbeat(self, lease: Lease, extend: timedelta) -> tuple[bool, bool]:
        return self.store.heartbeat_task(lease.id, lease.fence, extend)

    def complete(self, lease: Lease, *, ok: bool, error: str | None) -> bool:
        return self.store.complete_task(lease.id, lease.fence, ok=ok, error=error)


@dataclass
class Agent:
    """Takes tasks for which its labels qualify and carries them out in ``project_dir``."""

    name: str
    project_dir: Path
    transport: Transport
    labels: dict[str, str] = field(default_factory=dict)
    lease: timedelta = timedelta(seconds=30)
    poll: float = 0.5

    def work_once(self) -> str | None:
        """Take one task and carry it out; its status ("refused": the lease was lost), or None."""
        lease = self.transport.claim(self.name, self.labels, self.lease)
        if lease is None:
            return None
        done = threading.Event()
        lost = threading.Event()
        beats = threading.Thread(target=self._heartbeat, args=(lease, done, lost), daemon=True)
        beats.start()
        try:
            status, error = self._carry_out(lease)
        finally:
            done.set()
            beats.join()
        if lost.is_set() or not self.transport.complete(
            lease, ok=status in ("built", "skipped"), error=error
        ):
            log.warning("%s: result for %s refused (lease lost)", self.name, lease.task)
            return "refused"
        return status

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop``; waits ``poll`` seconds when there is nothing to do."""
        while not stop.is_set():
            if self.work_once() is None:
                stop.wait(self.poll)

    def _carry_out(self, lease: Lease) -> tuple[str, str | None]:
        from headgate.facade import Project
        from headgate.runtime.service import RunService

        with Project.load(self.project_dir) as project, project._engine(read_only=False) as engine:
            service = RunService(project.loaded, project.state, project.console, project.checks)
            status = service.carry_out_task(engine, lease.run_id, lease.task, attempt=lease.attempt)
            run = project.state.get_run(lease.run_id)
        error = next((t.error for t in run.tasks if t.name == lease.task), None) if run else None
        return status, error

    def _heartbeat(self, lease: Lease, done: threading.Event, lost: threading.Event) -> None:
        every = max(self.lease.total_seconds() / 3, 0.05)
        while not done.wait(every):
            held, cancel = self.transport.heartbeat(lease, self.lease)
            if not held or cancel:
                lost.set()
                return
