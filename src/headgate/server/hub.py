"""The hub: one process that owns a project's warehouse and carries out its writes.

The hub loads the project once (one :class:`headgate.Project`) and keeps its warehouse
and metadata store open for as long as it runs. Writes (runs, deploys, rollbacks,
environments created or deleted, deliveries) are queued as jobs and carried out one at a
time by the writer lane, a thread of its own; reads (the API, the UI, a CLI pointed at
the hub) go through the same open warehouse from the server's threads and never wait
for a write: on DuckDB they are cursors of the writer's own connection.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.errors import HeadgateError
from headgate.observe.query_counts import QueryCounts
from headgate.server.jobs import CANCELLED, DONE, FAILED, RUNNING, HubConsole, Job, JobCancelled
from headgate.server.warehouse import SessionKeeper, yield_to_readers

if TYPE_CHECKING:
    from headgate.engines.base import Engine
    from headgate.facade import Project
    from headgate.state.store import StateStore

log = logging.getLogger("headgate.hub")

IDLE_SECONDS = 2.0  # how often an idle writer lane looks for changed project files
KEPT_JOBS = 500  # finished jobs remembered for the API; older ones are forgotten
RESETTLE_EVERY = 50  # writes between two looks at everything set aside from the collector
YOUNG_OBJECTS = 10_000  # allocations between two collections of the youngest objects
_WRITES = itertools.count(1)  # writes carried out in this process, by any hub


class Hub:
    """A project, its open warehouse, and the one lane its writes go through."""

    def __init__(self, project_dir: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        from headgate.engines import open_engine
        from headgate.facade import Project
        from headgate.plan.environments import reconcile

        self.console = HubConsole()
        self.project: Project = Project.load(project_dir, console=self.console)
        self.project.loaded  # noqa: B018 - an invalid project stops the hub before it serves
        self.root = self.project.root
        self.store: StateStore = self.project.state
        engine_config = self.project.loaded.config.engine
        self.engine: Engine = open_engine(
            engine_config, self.root, read_only=False, on_wait=self._waiting
        )
        self.sessions = SessionKeeper(self.engine)
        reconcile(self.engine, self.store)  # a publish a killed process left is settled first
        self.project.hold(self.engine, store=self.store)
        self.store.abandon_dead_runs()
        self._stamp = self._project_stamp()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[int, Job] = {}
        self._by_run: dict[int, Job] = {}
        self._guard = threading.Lock()
        self._current: Job | None = None
        self.delivered: dict[str, dict[str, Any]] = {}  # delivery -> what it last produced
        self.generation = 0  # moves whenever a write starts or ends, or the project reloads
        self._answers: dict[Any, tuple[int, Any]] = {}
        self._revisions: Any = None  # the worktrees of git revisions (server/revisions.py)
        self.flight: Any = None  # the Arrow Flight server (server/flight.py), when started
        self.query_counts = QueryCounts()  # queries answered, HTTP and Flight (/metrics)
        self._worker = threading.Thread(target=self._work, name="hub-writer", daemon=True)
        self._closed = False
        self._worker.start()
        from headgate.observe.observer import Observer, wall_clock

        # events -> alerts, rules, expected schedules, notices (``clock``: tests drive time)
        self.observer = Observer(self.project, clock=clock or wall_clock)
        self.observer.start()
        from headgate.server.agentruns import resume

        resume(self)  # runs a previous hub process handed to agents are followed again
        # schedules and file triggers: this replica schedules while it holds the leadership
        self.scheduling = self.project.start_scheduling(self.start_scheduled_run)
        settle_memory(everything=False)  # a second hub in one process: see settle_memory

    # --- the writer lane ---------------------------------------------------------------

    def submit(
        self,
        kind: str,
        description: str,
        work: Callable[[Project], dict[str, Any]],
        *,
        environment: str | None = None,
        run_id: int | None = None,
    ) -> Job:
        """Queue a write; it is carried out after every write queued before it."""
        from headgate.security.principal import authorize_job, carried

        if self._closed:
            raise HeadgateError("the hub is shutting down", hint="try again once it is back")
        authorize_job(kind, environment)  # with the rights of whoever asked (403 if not)
        work = carried(work)  # done for them: their name on the run and in the audit log
        job = Job(kind, description, work, environment=environment, run_id=run_id)
        with self._guard:
            self._jobs[job.id] = job
            if run_id is not None:
                self._by_run[run_id] = job
            self._forget_old_jobs()
        self._queue.put(job)
        return job

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``'s answer, kept until the next write starts or ends.

        For reads of what is published (status, check results): they change only when
        the writer lane writes, and the hub owns every write while it runs.
        """
        generation = self.generation
        kept = self._answers.get(key)
        if kept is not None and kept[0] == generation:
            return kept[1]
        value = compute()
        if len(self._answers) > 256:
            self._answers.clear()
        self._answers[key] = (generation, value)
        return value

    def track(self, job: Job) -> None:
        """List a job carried out outside the writer lane (a run agents carry out, followed
        by a thread of its own): found by its id and its run, and cancellable."""
        with self._guard:
            self._jobs[job.id] = job
            if job.run_id is not None:
                self._by_run[job.run_id] = job
            self._forget_old_jobs()

    def job(self, job_id: int) -> Job | None:
        with self._guard:
            return self._jobs.get(job_id)

    def job_of_run(self, run_id: int) -> Job | None:
        with self._guard:
            return self._by_run.get(run_id)

    def jobs(self) -> list[Job]:
        with self._guard:
            return sorted(self._jobs.values(), key=lambda j: j.id, reverse=True)

    @property
    def current(self) -> Job | None:
        return self._current

    def cancel(self, job: Job) -> None:
        """Stop a job: a queued one never starts; a running run stops at its next task
        boundary, its running queries interrupted, and publishes nothing."""
        if job.finished:
            return
        job.cancel_requested = True
        if job is self._current and job.kind == "run":
            self.sessions.interrupt_threads("headgate")
            if job.run_id is not None:  # and its external steps' processes stopped
                from headgate.runtime.steps import RUNNING

                RUNNING.stop_run(job.run_id)

    def _work(self) -> None:
        yield_to_readers()  # readers' queries go first when both want the cores
        while True:
            try:
                job = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                self._refresh()
                continue
            if job is None:
                return
            self._carry_out(job)

    def _carry_out(self, job: Job) -> None:
        if job.cancel_requested:
            self._close_run(job, "cancelled", f"{job.description} was cancelled before it started")
            job.error = f"{job.description} was cancelled before it started"
            job.finish(CANCELLED)
            return
        self._current = job
        self.console.job = job
        self.generation += 1
        job.status = RUNNING
        job.started_at = datetime.now(UTC)
        job.emit("started", {"job": job.id, "run_id": job.run_id})
        try:
            self._refresh()
            result = job.work(self.project)
            # what the write left is set aside before it is said done
            settle_memory(everything=next(_WRITES) % RESETTLE_EVERY == 0)
        except JobCancelled as exc:
            job.error = exc.render()
            self._close_run(job, "cancelled", exc.message)
            job.emit("error", {"error": job.error})
            job.finish(CANCELLED)
        except HeadgateError as exc:
            job.error = exc.render()
            job.error_status = problem_status(exc)
            self._close_run(job, "failed", exc.render())
            job.emit("error", {"error": job.error})
            job.finish(FAILED)
        except Exception as exc:  # a bug must not stop the lane: the job fails, the hub goes on
            log.exception("job %s failed", job.id)
            job.error = f"{type(exc).__name__}: {exc}"
            job.error_status = 500
            self._close_run(job, "failed", job.error)
            job.emit("error", {"error": job.error})
            job.finish(FAILED)
        else:
            for delivery in (result or {}).get("deliveries", []):
                self.delivered[delivery["name"]] = {**delivery, "at": datetime.now(UTC).isoformat()}
            job.emit("finished", {"result": result})
            job.finish(DONE, result=result)
        finally:
            self.generation += 1
            self.console.job = None
            self._current = None
            self.sessions.release_ended()

    def _close_run(self, job: Job, status: str, error: str) -> None:
        """A run recorded when it was asked for ends with its job, however the job ended."""
        if job.run_id is None:
            return
        record = self.store.get_run(job.run_id)
        if record is not None and record.status == "running":
            self.store.finish_run(job.run_id, status, error=error[:4000])

    def _forget_old_jobs(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished]
        for job in sorted(finished, key=lambda j: j.id)[: max(0, len(finished) - KEPT_JOBS)]:
            del self._jobs[job.id]
            if job.run_id is not None:
                self._by_run.pop(job.run_id, None)

    # --- the project's files --------------------------------------------------------------

    def _project_stamp(self) -> tuple[Any, ...]:
        from headgate.facade.snapshots import project_stamp

        stamp = project_stamp(self.root, self.project.outline.patterns)
        extra = [
            (str(p), p.stat().st_size, p.stat().st_mtime_ns)
            for folder in ("checks", "deliveries")
            for p in sorted((self.root / folder).glob("**/*"))
            if p.is_file()
        ]
        return (stamp, tuple(extra))

    def _refresh(self) -> None:
        """Read the project again when its files changed (in the writer lane only, so a
        write never sees the project change under it)."""
        try:
            stamp = self._project_stamp()
            if stamp != self._stamp:
                self.project.reload()
                self._stamp = stamp
                self.generation += 1
                settle_memory()  # the project read before is freed, the new one set aside
                log.info("project files changed: reloaded")
        except HeadgateError as exc:
            log.warning("project files changed but do not load: %s", exc.render())
        except OSError as exc:
            log.warning("cannot read the project's files: %s", exc)

    # --- revisions -----------------------------------------------------------------------

    def project_at(self, revision: str | None) -> Project:
        """The project at a git revision, checked out in a worktree the hub owns (the hub's
        own project when ``revision`` is None)."""
        if revision is None:
            return self.project
        found: Project = self._revisions_kept().project(revision)
        return found

    def commit_of(self, revision: str) -> str:
        """The commit a branch, tag or commit of the hub's repository names now."""
        commit: str = self._revisions_kept().commit_of(revision)
        return commit

    def _revisions_kept(self) -> Any:
        from headgate.server.revisions import Revisions

        with self._guard:
            if self._revisions is None:
                self._revisions = Revisions(self.root, self.engine, self.store)
            return self._revisions

    # --- runs -------------------------------------------------------------------------------

    def start_run(
        self,
        environment: str | None = None,
        *,
        selection: str | None = None,
        revision: str | None = None,
        user: str | None = None,
        **options: Any,
    ) -> Job:
        """Record a run now (so its id is known at once) and queue it."""
        from headgate.facade.base import _git_commit, _user
        from headgate.project.schedules import checked_includes, includes_text
        from headgate.security.principal import authorize_job

        env = self.project._environment(environment)
        authorize_job("run", env)  # before the run is recorded: a refused one leaves no trace
        project = self.project_at(revision)  # an unknown revision is refused before queuing
        steps = checked_includes(options.get("includes"))  # refused before it is recorded
        run_id = self.store.start_run(
            environment=env,
            command="run" + includes_text(steps),
            selection=selection,
            user=user or _user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            git_commit=_git_commit(project.root),
        )

        def work(hub_project: Project) -> dict[str, Any]:
            chosen = hub_project if revision is None else self.project_at(revision)
            chosen.console = self.console
            result = chosen.run(env, selection=selection, run_id=run_id, **options)
            return result.to_json()

        where = f" at {revision}" if revision else ""
        return self.submit(
            "run", f"run {run_id} in {env}{where}", work, environment=env, run_id=run_id
        )

    def start_scheduled_run(
        self, environment: str, *, selection: str | None, user: str, **options: Any
    ) -> int:
        """A run a schedule, a trigger or an API call starts: queued like any other write, or
        handed to agents when the schedule names ``agents`` (planned and published here)."""
        agents = options.pop("agents", None)
        if agents is not None:
            from headgate.server.agentruns import scheduled_run

            return scheduled_run(
                self, environment, agents, selection=selection, user=user, **options
            )
        job = self.start_run(environment, selection=selection, user=user, **options)
        assert job.run_id is not None
        return job.run_id

    # --- lifetime -----------------------------------------------------------------------

    def start_flight(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve query results over Arrow Flight on ``host``:``port`` (0: a free port) until
        the hub closes; the port it listens on."""
        from headgate.server.flight import RunningFlight

        if self.flight is None:
            self.flight = RunningFlight(self, host, port)
        found: int = self.flight.port
        return found

    def close(self, *, wait: float = 30.0) -> None:
        """Stop taking jobs, let the running one finish (up to ``wait`` seconds), close
        the warehouse and the store."""
        if self._closed:
            return
        self._closed = True
        if self.flight is not None:  # before the warehouse closes under its streams
            self.flight.stop()
        self.scheduling.stop()  # a replica takes the schedules over
        for job in self.jobs():
            if job.status == "queued":
                job.cancel_requested = True
        self._queue.put(None)
        self._worker.join(timeout=wait)
        self.observer.stop()
        if self._revisions is not None:
            self._revisions.close()
        with contextlib.suppress(Exception):
            self.engine.close()
        self.store.close()

    def _waiting(self, text: str) -> None:
        log.warning(text)


def settle_memory(*, everything: bool = True) -> None:
    """Set what the hub keeps (the loaded project: ~135,000 objects at 1,000 models, and
    what its reads cache) aside from Python's cyclic garbage collector.

    A full collection otherwise walks all of it: ~95 ms of CPU, paid by whichever request
    happened to trigger it (most often the first page after a write, which allocates the
    most). Done when the hub starts and after each write, in the writer lane: what was
    made since is collected, what survives set aside. ``everything`` (after a reload, and
    every ``RESETTLE_EVERY`` writes of the process) looks again at what was set aside
    before, so what was dropped since (a project read again, a hub closed) is freed,
    never kept for good; not at the start, where a second hub in one process (tests
    start hundreds) would walk everything the process holds.
    """
    if everything:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    # a page of 1,000 rows makes tens of thousands of short-lived objects: collecting the
    # young every 700 allocations (Python's default) promoted them, still alive, and
    # brought full collections every few pages; every 10,000 they are gone by then
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


def problem_status(exc: HeadgateError) -> int:
    """The HTTP status a user's error answers with."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    if exc.transient:
        return 503
    if exc.message.startswith("no ") or " is not published in " in exc.message:
        return 404
    return 400
