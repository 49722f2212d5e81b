"""Agents: processes in a site that take a run's tasks, one lease at a time, and carry them out.

An agent asks for work (it reaches out; nothing reaches in), takes a task under a lease
with a fencing token, heartbeats while it works, and reports the result with the token.
If it dies or loses its link for longer than the lease, the task goes back to the queue
and another agent takes it; the dead agent's late result carries a stale token and is
refused, so a task is applied once. The agent builds with its own site's engine (the
project's ``engine:`` as its checkout declares it), with the secrets of the run's
environment handed to it with the task: kept in memory for the task's length, never
written down, and masked in every line it sends back.

How an agent reaches the queue is a :class:`Transport`: :class:`StoreTransport` talks to
the metadata store directly (an agent inside the hub's network); :class:`~headgate.
runtime.agent_http.HttpTransport` calls the hub's agent API from outside it, and reaches
the store only through the hub (:mod:`headgate.runtime.hub_store`): it never opens the
``state:`` its checkout names. The transport also says what the task reads and writes
through (:meth:`Transport.prepare`): the run's plan, kept once per run, and the store.

A run names the commit it was planned at; an agent whose checkout is elsewhere builds
from that commit (:func:`checkout_at`), with its own site's engine.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from headgate.engines.base import Engine
    from headgate.facade import Project
    from headgate.plan.planner import Plan
    from headgate.runtime.agent_beats import Heartbeats
    from headgate.state.queue import Lease
    from headgate.state.store import StateStore

log = logging.getLogger(__name__)

MAX_LINE = 2000  # characters of one output line sent back


@dataclass(frozen=True)
class Work:
    """A task handed to an agent: its lease, and what it needs to carry it out."""

    lease: Lease
    environment: str
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    git_commit: str | None = None
    context: dict[str, Any] | None = field(default=None, repr=False)  # what came with it


@dataclass
class Prepared:
    """What one task is carried out with: its run's plan (its own copy), the store it
    reads and writes through, and the physical records it needs (None: read from the
    store as it asks)."""

    plan: Plan
    store: Any
    registry: dict[str, Any] | None = None


class Transport(Protocol):
    def claim(self, agent: str, labels: dict[str, str], lease: timedelta) -> Work | None: ...

    def prepare(self, work: Work) -> Prepared: ...

    def heartbeat(self, lease: Lease, extend: timedelta) -> tuple[bool, bool]: ...

    def output(self, lease: Lease, lines: list[str]) -> None: ...

    def complete(
        self, lease: Lease, *, ok: bool, error: str | None, lines: list[str] | None = None
    ) -> bool: ...

    def lost(self, lease: Lease) -> None:
        """The task's lease ended before its result: there is nothing to report, and its
        slot is free again."""


class StoreTransport:
    """The queue in the metadata store, for agents that can reach it."""

    def __init__(self, store: StateStore, project_dir: Path | None = None, name: str = "") -> None:
        self.store = store
        self.project_dir = project_dir
        self.name = name
        self._plans = PlanCache()

    def claim(self, agent: str, labels: dict[str, str], lease: timedelta) -> Work | None:
        self.store.expire_leases()  # leases past their end are free again
        taken = self.store.claim_task(agent, labels, lease)
        if taken is None:
            return None
        from headgate.state import agents

        self.name = agent
        environment, commit = agents.run_brief(agents.database(self.store), taken.run_id)
        secrets = environment_secrets(self.store, self.project_dir, environment)
        return Work(taken, environment, secrets, commit)

    def prepare(self, work: Work) -> Prepared:
        from headgate.runtime.hub_store import ended_node, plan_from_parts
        from headgate.state import agents

        db = agents.database(self.store)
        run_id = work.lease.run_id

        def load() -> Plan:
            parts = agents.plan_parts(db, run_id)
            if parts is None:
                raise _no_plan(run_id)
            return plan_from_parts(*parts)

        plan = self._plans.get(run_id, load)
        node = plan.nodes.get(work.lease.task)
        names = list(node.upstream) if node is not None else []
        ended = agents.task_specs(db, run_id, names)
        nodes = {name: ended_node(status, spec) for name, (status, spec) in ended.items()}
        return Prepared(task_plan(plan, work.lease.task, nodes), self.store)

    def heartbeat(self, lease: Lease, extend: timedelta) -> tuple[bool, bool]:
        return self.store.heartbeat_task(lease.id, lease.fence, extend)

    def output(self, lease: Lease, lines: list[str]) -> None:
        from headgate.state import agents

        agents.add_output(
            agents.database(self.store), lease.run_id, lease.task, lease.attempt, self.name, lines
        )

    def complete(
        self, lease: Lease, *, ok: bool, error: str | None, lines: list[str] | None = None
    ) -> bool:
        if lines:
            self.output(lease, lines)
        return self.store.complete_task(lease.id, lease.fence, ok=ok, error=error)

    def lost(self, lease: Lease) -> None:
        """Nothing is kept per task here."""


class PlanCache:
    """Runs' plans, read once per run (the newest few kept), shared by an agent's threads."""

    KEPT = 4

    def __init__(self) -> None:
        self._plans: dict[int, Plan] = {}
        self._guard = threading.Lock()

    def held(self) -> list[int]:
        with self._guard:
            return list(self._plans)

    def get(self, run_id: int, load: Any) -> Plan:
        with self._guard:
            found = self._plans.get(run_id)
        if found is None:
            found = load()
            with self._guard:
                while len(self._plans) >= self.KEPT:
                    self._plans.pop(next(iter(self._plans)))
                self._plans[run_id] = found
        return found


def task_plan(plan: Plan, name: str, ended: dict[str, Any]) -> Plan:
    """``plan`` for one task: its node a copy of its own (a task settles its names as it
    runs), its upstream nodes as their tasks ended."""
    nodes = dict(plan.nodes)
    nodes.update({n: node for n, node in ended.items() if n in nodes})
    if name in nodes:
        nodes[name] = copy.copy(nodes[name])
    return dataclasses.replace(plan, nodes=nodes)


def _no_plan(run_id: int) -> Exception:
    from headgate.errors import HeadgateError

    return HeadgateError(
        f"run {run_id} has no plan in the metadata store",
        hint="only runs submitted to the runtime can be carried out by agents",
    )


def environment_secrets(
    store: StateStore, project_dir: Path | None, environment: str
) -> dict[str, str]:
    """The secrets set for ``environment`` (and for every environment), by name."""
    from headgate.security.vault import EVERY, Vault

    if project_dir is None:
        return {}
    vault = Vault(store, project_dir)
    names = {s.name for s in vault.list() if s.environment in (environment, EVERY)}
    found = {name: vault.get(name, environment) for name in sorted(names)}
    return {name: value for name, value in found.items() if value is not None}


@dataclass
class Agent:
    """Takes tasks for which its labels qualify and carries them out in ``project_dir``."""

    name: str
    project_dir: Path
    transport: Transport
    labels: dict[str, str] = field(default_factory=dict)
    lease: timedelta = timedelta(seconds=30)
    poll: float = 0.5
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _beats: Heartbeats = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from headgate.runtime.agent_beats import Heartbeats

        self._beats = Heartbeats(self.name, self.transport, self.lease)

    def work_once(self) -> str | None:
        """Take one task and carry it out; its status ("refused": the lease was lost), or None."""
        work = self.transport.claim(self.name, self.labels, self.lease)
        if work is None:
            return None
        lease = work.lease
        output = TaskOutput(work.secrets)
        output.add(f"taken by {self.name} (attempt {lease.attempt})")
        beat = self._beats.watch(lease, output)
        try:
            status, error = self._carry_out(work, output)
        finally:
            self._beats.stop_watching(beat)
        if beat.lost.is_set():
            log.warning("%s: result for %s refused (lease lost)", self.name, lease.task)
            self.transport.lost(lease)
            return "refused"
        if beat.cancelled.is_set():
            status, error = "cancelled", "cancelled while it ran"
        ok = status in ("built", "skipped")
        lines = output.take()
        if not self.transport.complete(lease, ok=ok, error=output.masked(error), lines=lines):
            log.warning("%s: result for %s refused (stale token)", self.name, lease.task)
            return "refused"
        return status

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop``; waits ``poll`` seconds when there is nothing to do."""
        try:
            while not stop.is_set():
                if self.work_once() is None:
                    stop.wait(self.poll)
        finally:
            self.close()

    def close(self) -> None:
        """Let go of this thread's project (and its commit's files) and warehouse connection."""
        from headgate.runtime.agent_checkout import let_go

        kept = getattr(self._local, "site", None)
        self._local.site = None
        self._local.schema_made = None
        if kept is not None:
            _, project, engine = kept
            project.close()
            let_go(project)
            if engine is not None:
                engine.close()

    def warm(self) -> None:
        """Load this thread's project checkout (at its HEAD) and open its warehouse
        connection before the first task, so that task starts as soon as it comes."""
        from headgate.runtime.agent_checkout import head_of

        try:
            self._site(head_of(self.project_dir))
        except Exception as exc:  # the first task tries again, and reports what it finds
            self.close()
            log.warning("%s: the checkout was not loaded before work came: %s", self.name, exc)

    def _site(self, commit: str | None) -> Project:
        """The project checkout (at the run's commit, when it names another), loaded once
        per thread and commit; its warehouse connection kept open, except a DuckDB file's,
        which is left free between tasks for the other processes of the site. The store
        is never opened here: the transport hands each task the one it writes through."""
        from headgate.engines import open_engine
        from headgate.runtime.agent_checkout import checkout_at

        kept = getattr(self._local, "site", None)
        if kept is not None and kept[0] == commit:
            project: Project = kept[1]
            return project
        self.close()
        project = checkout_at(self.project_dir, commit)
        config = project.loaded.config.engine
        engine = None
        if config.type != "duckdb":
            engine = open_engine(config, self.project_dir, read_only=False)
        self._local.site = (commit, project, engine)
        return project

    def _carry_out(self, work: Work, output: TaskOutput) -> tuple[str, str | None]:
        from headgate.runtime.run import execute_task
        from headgate.sources.secrets import SEEN_SECRETS, STORED_SECRETS

        lease = work.lease
        handler = output.capture(threading.get_ident())
        secrets = STORED_SECRETS.set(work.secrets.get)
        seen = SEEN_SECRETS.set(set(work.secrets.values()))
        try:
            project = self._site(work.git_commit)
            prepared = self.transport.prepare(work)
            with self._engine(project) as engine:
                result = execute_task(
                    project.loaded,
                    prepared.plan,
                    lease.task,
                    engine,
                    prepared.store,
                    lease.run_id,
                    project.checks,
                    attempt=lease.attempt,
                    registry=prepared.registry,
                    schema_made=getattr(self._local, "schema_made", None) is engine,
                )
                self._local.schema_made = engine  # a kept connection: not made again
            status = result.status
        except Exception as exc:  # a site that cannot build reports it; the agent goes on
            self.close()  # a broken connection is not kept
            log.exception("%s: %s failed", self.name, lease.task)
            text = exc.render() if hasattr(exc, "render") else f"{type(exc).__name__}: {exc}"
            output.add(f"failed: {text}")
            return "failed", text
        finally:
            SEEN_SECRETS.reset(seen)
            STORED_SECRETS.reset(secrets)
            logging.getLogger("headgate").removeHandler(handler)
        rows = f", {result.rows:,} rows" if result.rows is not None else ""
        took = f" in {result.seconds:.2f} s" if result.seconds else ""
        output.add(f"{status}{rows}{took}" + (f": {result.error}" if result.error else ""))
        return status, result.error

    @contextmanager
    def _engine(self, project: Project) -> Iterator[Engine]:
        """The site's warehouse: the connection kept, or a DuckDB file opened for the task."""
        from headgate.engines import open_engine

        kept = self._local.site[2]
        if kept is not None:
            yield kept
            return
        engine = open_engine(project.loaded.config.engine, self.project_dir, read_only=False)
        try:
            yield engine
        finally:
            engine.close()


class TaskOutput:
    """Lines a task prints, each masked for the task's secrets, waiting to be sent."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self._secrets = [v for v in secrets.values() if v]
        self._lines: list[str] = []
        self._guard = threading.Lock()

    def masked(self, text: str | None) -> str | None:
        from headgate.sources.secrets import mask

        return None if text is None else mask(text, self._secrets)

    def add(self, line: str) -> None:
        with self._guard:
            self._lines.append(str(self.masked(line))[:MAX_LINE])

    def take(self) -> list[str]:
        with self._guard:
            lines, self._lines = self._lines, []
        return lines

    def capture(self, thread: int) -> logging.Handler:
        """Log records of headgate's loggers from ``thread`` become output lines."""
        handler = _Capture(self, thread)
        logging.getLogger("headgate").addHandler(handler)
        return handler


class _Capture(logging.Handler):
    """Log records of one thread, as lines of a task's output."""

    def __init__(self, output: TaskOutput, thread: int) -> None:
        super().__init__(logging.INFO)
        self.output = output
        self.thread = thread

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.output.add(f"{record.levelname.lower()}: {record.getMessage()}")
