"""The hub's records as Prometheus metrics: runs, tasks, durations, rows, checks, freshness,
the queue, agents and events received.

Each scrape reads the metadata store (a few aggregate queries) and answers in Prometheus'
text format; nothing is counted in the process, so several hubs over one store and a
restarted hub all report the same totals. Names and labels follow Prometheus'
conventions: a ``headgate_`` prefix, base units (seconds), ``_total`` on counters, and
labels with few values (environment, status, kind, model, never a run's id). A family
whose table the store does not have yet is left out, not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from headgate.errors import StateError
from headgate.observe.openlineage import database
from headgate.state import tables as t
from headgate.state.sqltypes import now

log = logging.getLogger("headgate.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)


class StoreCollector(Collector):
    """Every family, read from the store at each scrape."""

    def __init__(self, store: Any, *, clock: Callable[[], datetime] = now) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        db = database(self.store)
        for family in FAMILIES:
            try:
                with db.read() as conn:
                    yield from family(conn, self.clock())
            except (SQLAlchemyError, StateError) as exc:
                log.debug("metrics: %s left out: %s", family.__name__, exc)


def exposition(
    store: Any, *, clock: Callable[[], datetime] = now, queries: Collector | None = None
) -> bytes:
    """The metrics in Prometheus' text format (``queries``: the hub process's counts of the
    queries it answered, observe/query_counts.py)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, clock=clock))
    if queries is not None:
        registry.register(queries)
    return generate_latest(registry)


def _runs(conn: Connection, at: datetime) -> Iterable[Metric]:
    runs = t.runs
    family = CounterMetricFamily(
        "headgate_runs", "Runs by environment and final status.", labels=["environment", "status"]
    )
    rows = conn.execute(
        select(runs.c.environment, runs.c.status, func.count()).group_by(
            runs.c.environment, runs.c.status
        )
    )
    for environment, status, count in rows:
        family.add_metric([environment, status], count)
    yield family
    running = GaugeMetricFamily(
        "headgate_runs_running", "Runs under way now.", labels=["environment"]
    )
    for environment, count in conn.execute(
        select(runs.c.environment, func.count())
        .where(runs.c.status == "running")
        .group_by(runs.c.environment)
    ):
        running.add_metric([environment], count)
    yield running
    durations: dict[str, list[float]] = {}
    for environment, started, ended in conn.execute(
        select(runs.c.environment, runs.c.started_at, runs.c.ended_at).where(
            runs.c.ended_at.is_not(None)
        )
    ):
        durations.setdefault(environment, []).append((ended - started).total_seconds())
    yield _histogram(
        "headgate_run_duration_seconds",
        "How long finished runs took, by environment.",
        "environment",
        durations,
    )


def _tasks(conn: Connection, at: datetime) -> Iterable[Metric]:
    tasks = t.tasks
    family = CounterMetricFamily(
        "headgate_tasks", "Tasks of runs by kind and status.", labels=["kind", "status"]
    )
    for kind, status, count in conn.execute(
        select(tasks.c.kind, tasks.c.status, func.count()).group_by(tasks.c.kind, tasks.c.status)
    ):
        family.add_metric([kind, status], count)
    yield family
    durations: dict[str, list[float]] = {}
    for kind, seconds in conn.execute(
        select(tasks.c.kind, tasks.c.seconds).where(tasks.c.seconds.is_not(None))
    ):
        durations.setdefault(kind, []).append(float(seconds))
    yield _histogram(
        "headgate_task_duration_seconds", "How long tasks took, by kind.", "kind", durations
    )
    rows = CounterMetricFamily(
        "headgate_task_rows",
        "Rows written by tasks (sources loaded, models built), by kind.",
        labels=["kind"],
    )
    for kind, total in conn.execute(
        select(tasks.c.kind, func.coalesce(func.sum(tasks.c.rows), 0))
        .where(tasks.c.rows.is_not(None))
        .group_by(tasks.c.kind)
    ):
        rows.add_metric([kind], float(total))
    yield rows


def _models(conn: Connection, at: datetime) -> Iterable[Metric]:
    env, physical = t.env_models, t.physical_tables
    rows = GaugeMetricFamily(
        "headgate_model_rows",
        "Rows of each model as its environment publishes it.",
        labels=["environment", "model"],
    )
    lag = GaugeMetricFamily(
        "headgate_model_freshness_lag_seconds",
        "Seconds since the data each environment publishes for a model was built.",
        labels=["environment", "model"],
    )
    found = conn.execute(
        select(env.c.environment, env.c.model, physical.c.rows, physical.c.created_at)
        .select_from(env.join(physical, physical.c.name == env.c.physical_table))
        .order_by(env.c.environment, env.c.model)
    )
    for environment, model, count, built in found:
        if count is not None:
            rows.add_metric([environment, model], float(count))
        lag.add_metric([environment, model], max(0.0, (at - built).total_seconds()))
    yield rows
    yield lag


def _counted(
    conn: Connection, name: str, documentation: str, columns: list[Any], *where: Any
) -> CounterMetricFamily:
    """A counter of rows by the values of ``columns`` (a label each, named as the column)."""
    family = CounterMetricFamily(name, documentation, labels=[c.name for c in columns])
    query = select(*columns, func.count()).where(*where).group_by(*columns)
    for *labels, count in conn.execute(query):
        family.add_metric([str(label) for label in labels], count)
    return family


def _checks(conn: Connection, at: datetime) -> Iterable[Metric]:
    results = t.check_results
    yield _counted(
        conn,
        "headgate_checks",
        "Check results by status (pass, warn, fail, error) and severity.",
        [results.c.status, results.c.severity],
    )


def _deployments(conn: Connection, at: datetime) -> Iterable[Metric]:
    deployments = t.deployments
    yield _counted(
        conn,
        "headgate_deployments",
        "Changes to what an environment publishes, by kind (run, deploy, rollback, create).",
        [deployments.c.environment, deployments.c.kind],
    )


def _queue(conn: Connection, at: datetime) -> Iterable[Metric]:
    queue = t.task_queue
    family = GaugeMetricFamily(
        "headgate_queue_tasks",
        "Tasks in the agents' queue waiting (queued) or held (leased).",
        labels=["state"],
    )
    counts = dict.fromkeys(("queued", "leased"), 0)
    for state, count in conn.execute(
        select(queue.c.state, func.count()).where(queue.c.state.in_(counts)).group_by(queue.c.state)
    ):
        counts[state] = count
    for state, count in counts.items():
        family.add_metric([state], count)
    yield family


def _agents(conn: Connection, at: datetime) -> Iterable[Metric]:
    agents = t.agents
    family = GaugeMetricFamily(
        "headgate_agents",
        "Agents by health: healthy (seen within two of its periods), late (four), offline.",
        labels=["health"],
    )
    counts = dict.fromkeys(("healthy", "late", "offline"), 0)
    for seen, every in conn.execute(select(agents.c.seen_at, agents.c.every_seconds)):
        age = (at - seen).total_seconds()
        health = "healthy" if age <= 2 * every else "late" if age <= 4 * every else "offline"
        counts[health] += 1
    for health, count in counts.items():
        family.add_metric([health], count)
    yield family


def _events(conn: Connection, at: datetime) -> Iterable[Metric]:
    events = t.events
    yield _counted(
        conn,
        "headgate_events_received",
        "Events received, by kind and by where they came from (api, headgate, openlineage).",
        [events.c.kind, events.c.source],
    )


def _lineage(conn: Connection, at: datetime) -> Iterable[Metric]:
    events = t.lineage_events
    yield _counted(
        conn,
        "headgate_openlineage_events_received",
        "OpenLineage events received, by event type.",
        [events.c.event_type],
        events.c.event_type.is_not(None),
    )


def _histogram(
    name: str, documentation: str, label: str, values: dict[str, list[float]]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for key in sorted(values):
        observed = values[key]
        buckets = [
            (_bound(bound), float(sum(1 for v in observed if v <= bound)))
            for bound in DURATION_BUCKETS
        ]
        buckets.append(("+Inf", float(len(observed))))
        family.add_metric([key], buckets, sum_value=sum(observed))
    return family


def _bound(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


FAMILIES: tuple[Callable[[Connection, datetime], Iterable[Metric]], ...] = (
    _runs,
    _tasks,
    _models,
    _checks,
    _deployments,
    _queue,
    _agents,
    _events,
    _lineage,
)
