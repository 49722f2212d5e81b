"""The observer: reads new events, raises and resolves alerts, applies rules, judges expected
schedules and sends notices. The hub runs one in a thread; tests call :meth:`tick` with
a clock of their own.

Built-in alerts follow from events: a FAILED run is ``failed`` (``delivery_failed`` for a
delivery), failed tests are ``checks_failed`` (``anomaly`` for a monitor), and each
resolves when the component succeeds again; a run starting resolves ``late_start`` and
``missing_run``, a run ending ``late_end``, a WRITE ``dataset_not_ready``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from headgate.observe import alerts as alerting
from headgate.observe import expectations, journeys, lineage_events, notices, rules
from headgate.observe.config import ObserveConfig
from headgate.observe.events import END_STATUSES, Event
from headgate.observe.ingest import database
from headgate.state import tables as t

if TYPE_CHECKING:
    from headgate.facade import Project
    from headgate.project.loader import LoadedProject

log = logging.getLogger("headgate.observe")
Clock = Callable[[], datetime]
BATCH = 2000
INTERVAL_SECONDS = 1.0
GATHER_SECONDS = 0.25  # after a wake-up, before looking: one tick for a burst of events
CURSOR = "rules"
SINCE = "expectations_since"
OBSERVER_LOCK = "observer"


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Observer:
    """Everything that follows from events and the passing of time, for one project."""

    def __init__(self, project: Project, *, clock: Clock = wall_clock) -> None:
        self.project = project
        self.clock = clock
        self._synced: str | None = None
        # the project's load last written to the store; weakly, so a load the hub read
        # again is freed when the hub drops it, not kept by the observer until its next round
        self._synced_from: weakref.ref[LoadedProject] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one tick at a time
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> Any:
        return self.project.state

    @property
    def config(self) -> ObserveConfig:
        return self.project.loaded.config.observe

    # --- the loop ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hub-observer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        """New events are in: look at them now rather than at the next interval."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the observer must outlive a bad tick; the next one retries
                log.exception("observing failed")
            self._wake.wait(INTERVAL_SECONDS)
            # events arriving one by one are looked at together, a short while later
            self._stop.wait(GATHER_SECONDS)
            self._wake.clear()

    def tick(self) -> dict[str, int]:
        """One round: config, new events, expected schedules, notices; what it did.

        One process observes at a time, whichever hub replica takes the store's lock
        first; the others skip their round (so no alert or notice is made twice).
        """
        from headgate.errors import WarehouseBusy

        with self._lock:
            try:
                held = self.store.acquire_lock(
                    OBSERVER_LOCK, wait=False, description="the observer", heartbeat_every=None
                )
            except WarehouseBusy:
                return {"queued": 0, "sent": 0}
            try:
                return self._round()
            finally:
                held.release()

    def _round(self) -> dict[str, int]:
        """Sync, new OpenLineage runs and events, expected slots, then notices.

        The whole round works on one load of the project, the newest when it starts: the
        hub may read the project again meanwhile (in its writer lane), and a round must not
        judge with one load's rules and another's journeys or models.
        """
        moment = self.clock()
        loaded = self.project.loaded
        self.sync(loaded)
        config = loaded.config.observe
        scope: rules.Scope | None = None
        queued = 0
        while lineage_events.follow(self.store):
            pass  # OpenLineage runs become events first, then everything is judged
        while True:
            batch = self._next_events()
            if not batch:
                break
            scope = scope or self.scope(loaded)
            queued += self._process(batch, config, scope, moment)
        findings = expectations.judge(self.store, config, moment, self._since(moment))
        for finding in findings:
            scope = scope or self.scope(loaded)
            change = alerting.raise_alert(
                self.store,
                component=finding.component,
                kind=finding.kind,
                message=finding.message,
                at=moment,
                upstream=scope.upstream,
                level="warning" if finding.kind == "late_start" else "error",
                run_key=finding.run_key,
            )
            queued += self._apply(
                config, scope, rules.Signal(finding.component, moment, alert=change), moment
            )
        sent = self.dispatcher(loaded).dispatch(config, moment)
        return {"queued": queued, "sent": sent}

    # --- configuration -----------------------------------------------------------------------

    def own_components(self, loaded: LoadedProject) -> dict[str, dict[str, Any]]:
        """headgate's own components: each model."""
        own: dict[str, dict[str, Any]] = {
            f"model:{name}": {"kind": "model", "name": name, "owner": model.options.owner}
            for name, model in loaded.models.items()
        }
        return own

    def sync(self, loaded: LoadedProject) -> None:
        """Write the declared journeys to the store when headgate.yml changed."""
        if self._synced_from is not None and self._synced_from() is loaded:
            return  # the same load of the project: nothing changed
        self._synced_from = weakref.ref(loaded)
        config = loaded.config.observe
        own = self.own_components(loaded)
        stamp = hashlib.blake2b(
            (config.model_dump_json() + repr(sorted(own.items()))).encode(), digest_size=16
        ).hexdigest()
        if stamp != self._synced:
            journeys.sync_config(self.store, config, own)
            self._synced = stamp

    def scope(self, loaded: LoadedProject) -> rules.Scope:
        journeys_of: dict[str, set[str]] = {}
        for journey in journeys.journeys(self.store):
            for member in journey.components:
                journeys_of.setdefault(member, set()).add(journey.name)
        upstream = journeys.upstream_edges(self.store)
        for name, parents in loaded.dag.upstream.items():
            for parent in parents:
                upstream.setdefault(f"model:{name}", set()).add(f"model:{parent}")
        return rules.Scope(journeys_of, upstream)

    def dispatcher(self, loaded: LoadedProject) -> notices.Dispatcher:
        from headgate.sources.secrets import STORED_SECRETS, Secrets

        secrets = Secrets(self.project.root)
        vault = _vault_lookup(self.project, loaded.config.default_environment)

        def resolve(text: str) -> str:
            token = STORED_SECRETS.set(vault)
            try:
                return secrets.resolve(text)
            finally:
                STORED_SECRETS.reset(token)

        return notices.Dispatcher(self.store, resolve, secrets.mask)

    def _since(self, moment: datetime) -> datetime:
        """When headgate began watching expected schedules (kept across restarts)."""
        with database(self.store).read() as conn:
            found = conn.execute(
                select(t.observe_cursors.c.position).where(t.observe_cursors.c.name == SINCE)
            ).scalar()
        if found is not None:
            return datetime.fromtimestamp(int(found), UTC)
        db = database(self.store)
        with db.write("starting to watch schedules") as conn:
            row = {"name": SINCE, "position": int(moment.timestamp())}
            db.upsert(conn, t.observe_cursors, ["name"], [row])
        return datetime.fromtimestamp(int(moment.timestamp()), UTC)

    # --- events ------------------------------------------------------------------------------

    def _cursor(self) -> int:
        with database(self.store).read() as conn:
            found = conn.execute(
                select(t.observe_cursors.c.position).where(t.observe_cursors.c.name == CURSOR)
            ).scalar()
        return int(found or 0)

    def _next_events(self) -> list[tuple[int, Event]]:
        after = self._cursor()
        with database(self.store).read() as conn:
            rows = conn.execute(
                select(t.events).where(t.events.c.seq > after).order_by(t.events.c.seq).limit(BATCH)
            ).all()
        return [(r.seq, _event(r)) for r in rows]

    def _process(
        self,
        batch: list[tuple[int, Event]],
        config: ObserveConfig,
        scope: rules.Scope,
        moment: datetime,
    ) -> int:
        events = [e for _, e in batch]
        journeys.follow_instances(self.store, events)
        watched = self._watched()
        queued = 0
        for event in events:
            for change in self._builtin(event, scope, watched):
                if change.change == "opened":
                    watched.add(event.component)
                queued += self._apply(
                    config, scope, rules.Signal(event.component, event.at, alert=change), moment
                )
            queued += self._apply(
                config, scope, rules.Signal(event.component, event.at, event=event), moment
            )
        db = database(self.store)
        with db.write("moving the rules' cursor") as conn:
            db.upsert(
                conn, t.observe_cursors, ["name"], [{"name": CURSOR, "position": batch[-1][0]}]
            )
        return queued

    def _watched(self) -> set[str]:
        """Components with an open alert (the only ones an event may resolve)."""
        with database(self.store).read() as conn:
            rows = conn.execute(
                select(t.alerts.c.component).where(t.alerts.c.status == "open").distinct()
            ).all()
        return {r[0] for r in rows}

    def _apply(
        self, config: ObserveConfig, scope: rules.Scope, signal: rules.Signal, moment: datetime
    ) -> int:
        if not config.rules:
            return 0
        found = rules.apply(self.store, config.rules, signal, scope, moment)
        return notices.queue(self.store, found, moment) if found else 0

    def _builtin(
        self, event: Event, scope: rules.Scope, watched: set[str]
    ) -> list[alerting.AlertChange]:
        """The built-in alerts an event opens or resolves."""
        changes: list[alerting.AlertChange] = []
        store, key, at = self.store, event.component, event.at

        def resolve(*kinds: str) -> None:
            if key in watched:
                changes.extend(alerting.resolve_alerts(store, component=key, kinds=kinds, at=at))

        if event.kind == "run-status" and event.task_key is None:
            resolve("late_start", "missing_run")
            if event.status in END_STATUSES:
                resolve("late_end")
            if event.status == "FAILED":
                kind = "delivery_failed" if key.startswith("delivery:") else "failed"
                changes.append(
                    alerting.raise_alert(
                        store,
                        component=key,
                        kind=kind,
                        message=f"{key}: run {event.run_key} failed",
                        at=at,
                        upstream=scope.upstream,
                        run_key=event.run_key,
                    )
                )
            elif event.status in ("COMPLETED", "COMPLETED_WITH_WARNINGS"):
                resolve("failed", "delivery_failed")
        elif event.kind == "test-outcomes":
            outcomes = event.body.get("test_outcomes", [])
            failing = [o for o in outcomes if o.get("status") == "FAILED"]
            if failing:
                monitor = all(o.get("type") == "monitor" for o in failing)
                names = ", ".join(str(o.get("name")) for o in failing[:5])
                changes.append(
                    alerting.raise_alert(
                        store,
                        component=key,
                        kind="anomaly" if monitor else "checks_failed",
                        message=f"{key}: {len(failing)} failed: {names}",
                        at=at,
                        upstream=scope.upstream,
                        run_key=event.run_key,
                    )
                )
            else:
                resolve("checks_failed", "anomaly")
        elif event.kind == "dataset-operation" and event.body.get("operation") == "WRITE":
            resolve("dataset_not_ready")
        return changes


def _event(row: Any) -> Event:
    body = dict(row.body)
    return Event(
        kind=row.kind,
        component=row.component,
        component_kind="",
        at=row.event_at,
        body=body,
        run_key=row.run_key,
        task_key=row.task_key,
        event_id=row.event_id,
        received_at=row.received_at,
        source=row.source,
    )


def _vault_lookup(project: Project, environment: str) -> Callable[[str], str | None]:
    """Secrets set with `headgate secrets set`, for the project's default ``environment``."""
    from headgate.security.vault import Vault

    vault = Vault(project.state, project.root)

    def lookup(name: str) -> str | None:
        try:
            return vault.get(name, environment)
        except Exception:  # no key file yet: the other places are looked in
            return None

    return lookup
