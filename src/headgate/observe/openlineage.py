"""OpenLineage in: run, job and dataset events received and kept as Marquez keeps them.

An OpenLineage event (https://openlineage.io/spec/2-0-2/OpenLineage.json) says that a
job's run started, is running, completed, failed or was aborted, and which datasets it
read and wrote, each with facets (schema, data quality, SQL, parent run, error...).
:func:`ingest` keeps the event as received and folds it into the current picture: the
job (its latest facets), the run (its state, start and end, facets, datasets), every
dataset (its latest facets) and the edges between jobs and datasets. Events may arrive
out of order: a run that ended stays ended when a late START arrives.

The picture is read back in Marquez's shapes by :mod:`headgate.observe.openlineage_read`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from headgate.errors import HeadgateError
from headgate.state import tables as t
from headgate.state.database import Database
from headgate.state.sqltypes import now

EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
STATES = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "ABORT": "ABORTED",
    "FAIL": "FAILED",
}
ENDED = ("COMPLETED", "FAILED", "ABORTED")
NAME_LIMIT = 400
RUN_ID_LIMIT = 64


class LineageEventError(HeadgateError):
    """An event the hub cannot keep: it answers 400 with what is wrong."""

    status = 400


@dataclass(frozen=True)
class DatasetRef:
    namespace: str
    name: str
    facets: dict[str, Any]  # the dataset's own facets
    io_facets: dict[str, Any]  # inputFacets or outputFacets: about this run's use of it


@dataclass(frozen=True)
class LineageEvent:
    """One event, validated: what :func:`ingest` folds into the store."""

    event_type: str
    event_time: datetime
    producer: str | None
    run_id: str | None
    run_facets: dict[str, Any]
    job_namespace: str
    job_name: str
    job_facets: dict[str, Any]
    inputs: tuple[DatasetRef, ...]
    outputs: tuple[DatasetRef, ...]
    raw: dict[str, Any]


def database(store: Any) -> Database:
    """The metadata store's database (the store keeps it for its own query modules)."""
    db: Database = store._db
    return db


def parse_event(body: Any) -> LineageEvent:
    """``body`` (decoded JSON) as an event; :class:`LineageEventError` says what is wrong."""
    if not isinstance(body, dict):
        raise LineageEventError("an OpenLineage event is a JSON object")
    event_type = body.get("eventType") or "OTHER"
    if event_type not in EVENT_TYPES:
        raise LineageEventError(
            f"eventType {event_type!r} is not one of {', '.join(EVENT_TYPES)}",
        )
    event_time = _time(body.get("eventTime"), "eventTime", required=True)
    assert event_time is not None
    producer = body.get("producer")
    if producer is not None and not isinstance(producer, str):
        raise LineageEventError("producer is a URI string")
    if "dataset" in body and "job" not in body:  # a DatasetEvent: one dataset's facets
        dataset = _dataset(body["dataset"], "dataset", "facets")
        return LineageEvent(
            event_type, event_time, producer, None, {}, "", "", {}, (), (dataset,), body
        )
    job = _object(body.get("job"), "job")
    run = body.get("run")
    run_id: str | None = None
    run_facets: dict[str, Any] = {}
    if run is not None:  # a RunEvent; without one, a JobEvent
        run = _object(run, "run")
        run_id = _text(run.get("runId"), "run.runId", RUN_ID_LIMIT)
        run_facets = _facets(run.get("facets"), "run.facets")
    return LineageEvent(
        event_type=event_type,
        event_time=event_time,
        producer=producer,
        run_id=run_id,
        run_facets=run_facets,
        job_namespace=_text(job.get("namespace"), "job.namespace", NAME_LIMIT),
        job_name=_text(job.get("name"), "job.name", NAME_LIMIT),
        job_facets=_facets(job.get("facets"), "job.facets"),
        inputs=_datasets(body.get("inputs"), "inputs", "inputFacets"),
        outputs=_datasets(body.get("outputs"), "outputs", "outputFacets"),
        raw=body,
    )


def ingest(store: Any, body: Any) -> LineageEvent:
    """Validate and keep one event; the run, job, datasets and edges it names are updated."""
    event = parse_event(body)
    db = database(store)
    received = now()
    with db.write("keeping an OpenLineage event") as conn:
        if event.run_id is not None:
            db.serialize(conn, f"lineage-run:{event.run_id}")
        conn.execute(
            t.lineage_events.insert().values(
                run_id=event.run_id or "",
                event_type=event.event_type,
                event_time=event.event_time,
                job_namespace=event.job_namespace,
                job_name=event.job_name,
                producer=event.producer,
                event=event.raw,
                received_at=received,
            )
        )
        for dataset in (*event.inputs, *event.outputs):
            _keep_dataset(db, conn, dataset, received)
        if not event.job_name:
            return event
        _keep_job(db, conn, event, received)
        if event.run_id is not None:
            _keep_run(db, conn, event, received)
        else:
            _add_edges(db, conn, event, received)
    return event


def _keep_dataset(db: Database, conn: Connection, dataset: DatasetRef, at: datetime) -> None:
    table = t.lineage_datasets
    key = (table.c.namespace == dataset.namespace) & (table.c.name == dataset.name)
    facets = conn.execute(select(table.c.facets).where(key)).scalar_one_or_none()
    if facets is None:
        conn.execute(
            table.insert().values(
                namespace=dataset.namespace,
                name=dataset.name,
                facets=dataset.facets,
                created_at=at,
                updated_at=at,
            )
        )
    elif dataset.facets:
        conn.execute(
            table.update().where(key).values(facets={**facets, **dataset.facets}, updated_at=at)
        )


def _keep_job(db: Database, conn: Connection, event: LineageEvent, at: datetime) -> None:
    table = t.lineage_jobs
    key = (table.c.namespace == event.job_namespace) & (table.c.name == event.job_name)
    facets = conn.execute(select(table.c.facets).where(key)).scalar_one_or_none()
    merged = {**(facets or {}), **event.job_facets}
    job_type = merged.get("jobType", {}).get("processingType", "BATCH")
    values: dict[str, Any] = {
        "facets": merged,
        "type": "STREAM" if job_type == "STREAMING" else "BATCH",
        "updated_at": at,
    }
    if event.run_id is not None:
        values["latest_run_id"] = event.run_id
    if facets is None:
        conn.execute(
            table.insert().values(
                namespace=event.job_namespace, name=event.job_name, created_at=at, **values
            )
        )
    else:
        conn.execute(table.update().where(key).values(**values))


def _keep_run(db: Database, conn: Connection, event: LineageEvent, at: datetime) -> None:
    table = t.lineage_runs
    row = conn.execute(select(table).where(table.c.run_id == event.run_id)).mappings().first()
    state = row["state"] if row else "NEW"
    new_state = STATES.get(event.event_type, state)
    if state in ENDED and new_state not in ENDED:
        new_state = state  # a late START or RUNNING does not reopen an ended run
    started = row["started_at"] if row else None
    if event.event_type in ("START", "RUNNING") and (started is None or event.event_time < started):
        started = event.event_time
    ended = row["ended_at"] if row else None
    if STATES.get(event.event_type) in ENDED:
        ended = event.event_time
    facets = {**(row["facets"] if row else {}), **event.run_facets}
    inputs = _merge_refs(row["inputs"] if row else [], event.inputs)
    outputs = _merge_refs(row["outputs"] if row else [], event.outputs)
    nominal = facets.get("nominalTime", {})
    parent = facets.get("parent", {}).get("run", {}).get("runId")
    values: dict[str, Any] = {
        "job_namespace": event.job_namespace,
        "job_name": event.job_name,
        "state": new_state,
        "started_at": started,
        "ended_at": ended,
        "nominal_start": _time(nominal.get("nominalStartTime"), "nominalStartTime"),
        "nominal_end": _time(nominal.get("nominalEndTime"), "nominalEndTime"),
        "parent_run_id": str(parent)[:RUN_ID_LIMIT] if parent else None,
        "facets": facets,
        "inputs": inputs,
        "outputs": outputs,
        "updated_at": at,
    }
    if row is None:
        conn.execute(table.insert().values(run_id=event.run_id, created_at=at, **values))
    else:
        conn.execute(table.update().where(table.c.run_id == event.run_id).values(**values))
    if new_state == "COMPLETED":
        _replace_edges(db, conn, event, inputs, outputs, at)
        written = t.lineage_datasets
        for ns, name in {(o["namespace"], o["name"]) for o in outputs}:
            conn.execute(
                written.update()
                .where((written.c.namespace == ns) & (written.c.name == name))
                .values(last_modified_at=event.event_time)
            )
    else:
        _add_edges(db, conn, event, at)


def _merge_refs(kept: list[dict[str, Any]], refs: tuple[DatasetRef, ...]) -> list[dict[str, Any]]:
    """A run's datasets so far, each with its facets for the run, ``refs`` folded in."""
    merged = {(d["namespace"], d["name"]): dict(d) for d in kept}
    for ref in refs:
        before = merged.get((ref.namespace, ref.name), {"facets": {}})
        merged[(ref.namespace, ref.name)] = {
            "namespace": ref.namespace,
            "name": ref.name,
            "facets": {**before["facets"], **ref.io_facets},
        }
    return list(merged.values())


def _add_edges(db: Database, conn: Connection, event: LineageEvent, at: datetime) -> None:
    rows = [
        _edge(event, ref.namespace, ref.name, direction, at)
        for direction, refs in (("in", event.inputs), ("out", event.outputs))
        for ref in refs
    ]
    db.upsert(
        conn,
        t.lineage_edges,
        ["job_namespace", "job_name", "dataset_namespace", "dataset_name", "direction"],
        rows,
    )


def _replace_edges(
    db: Database,
    conn: Connection,
    event: LineageEvent,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    at: datetime,
) -> None:
    """A completed run says what its job reads and writes now: the job's edges become its."""
    edges = t.lineage_edges
    conn.execute(
        delete(edges).where(
            (edges.c.job_namespace == event.job_namespace) & (edges.c.job_name == event.job_name)
        )
    )
    rows = [
        _edge(event, d["namespace"], d["name"], direction, at)
        for direction, refs in (("in", inputs), ("out", outputs))
        for d in refs
    ]
    if rows:
        conn.execute(edges.insert(), rows)


def _edge(event: LineageEvent, ns: str, name: str, direction: str, at: datetime) -> dict[str, Any]:
    return {
        "job_namespace": event.job_namespace,
        "job_name": event.job_name,
        "dataset_namespace": ns,
        "dataset_name": name,
        "direction": direction,
        "updated_at": at,
    }


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise LineageEventError(f"{where} is required and is a JSON object")
    return value


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LineageEventError(f"{where} is required and is a non-empty string")
    if len(value) > limit:
        raise LineageEventError(f"{where} is longer than {limit} characters")
    return value


def _facets(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(f, dict) for f in value.values()):
        raise LineageEventError(f"{where} is an object whose values are facet objects")
    return dict(value)


def _dataset(value: Any, where: str, io_key: str) -> DatasetRef:
    item = _object(value, where)
    return DatasetRef(
        _text(item.get("namespace"), f"{where}.namespace", NAME_LIMIT),
        _text(item.get("name"), f"{where}.name", NAME_LIMIT),
        _facets(item.get("facets"), f"{where}.facets"),
        _facets(item.get(io_key), f"{where}.{io_key}"),
    )


def _datasets(value: Any, where: str, io_key: str) -> tuple[DatasetRef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise LineageEventError(f"{where} is a list of datasets")
    return tuple(_dataset(item, f"{where}[{i}]", io_key) for i, item in enumerate(value))


def _time(value: Any, where: str, *, required: bool = False) -> datetime | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise LineageEventError(
            f"{where} is an ISO 8601 date-time string, e.g. 2026-12-03T10:00:00Z"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise LineageEventError(
            f"{where} {value!r} is not an ISO 8601 date-time, e.g. 2026-12-03T10:00:00Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
