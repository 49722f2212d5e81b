"""OpenLineage runs in journeys: what Airflow, Spark or dbt report over OpenLineage becomes
the same events as headgate's own and the events API's.

The hub keeps every OpenLineage event it receives (``lineage_events``); the observer reads
the new ones and turns each into events: the job ``<namespace>:<name>`` (a batch
pipeline whose tool is read from the producer) runs with the OpenLineage run id as its
run key (START and RUNNING are RUNNING, COMPLETE is COMPLETED, FAIL and ABORT are
FAILED), a failed run's error message is an ERROR message, and a completed run's inputs
and outputs are READ and WRITE operations of the datasets ``<namespace>:<name>``. So an
Airflow task in a journey, or the dataset it writes, has a state, expected schedules and
rules like any other component.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from headgate.observe.events import Event
from headgate.observe.ingest import database, ingest
from headgate.state import tables as t

CURSOR = "openlineage"
BATCH = 2000
STATUSES = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "FAILED",
}
TOOLS = ("airflow", "spark", "dbt", "flink", "dagster", "great_expectations", "headgate")
_IDS = uuid.UUID("6f1c0a52-8d7e-4c4b-9a55-0b5f0e3d2a10")  # namespace of derived event ids


def tool_of(producer: str | None) -> str:
    """The tool an OpenLineage producer URL names (``openlineage`` when none is known)."""
    text = (producer or "").lower()
    return next((tool for tool in TOOLS if tool in text), "openlineage")


def events_of(row: Any) -> list[Event]:
    """The events one kept OpenLineage event makes (none for OTHER)."""
    status = STATUSES.get(row.event_type)
    if status is None:
        return []
    body = row.event if isinstance(row.event, dict) else {}
    job = f"{row.job_namespace}:{row.job_name}"
    tool = tool_of(row.producer)
    at = row.event_time
    made = [
        _event(row, 0, "run-status", job, "batch_pipeline", tool, {"status": status}, row.run_id)
    ]
    if status == "FAILED":
        facets = (body.get("run") or {}).get("facets") or {}
        message = (facets.get("errorMessage") or {}).get("message") or f"{row.event_type}"
        made.append(
            _event(
                row,
                1,
                "message-log",
                job,
                "batch_pipeline",
                tool,
                {"log_level": "ERROR", "message": str(message)[:20_000]},
                row.run_id,
            )
        )
    if status == "COMPLETED":
        for direction, operation in (("inputs", "READ"), ("outputs", "WRITE")):
            for index, dataset in enumerate(body.get(direction) or []):
                key = f"{dataset.get('namespace')}:{dataset.get('name')}"
                made.append(
                    _event(
                        row,
                        2 + index * 2 + (operation == "WRITE"),
                        "dataset-operation",
                        key,
                        "dataset",
                        tool,
                        {"operation": operation, "path": str(dataset.get("name"))[:2000]},
                        None,
                    )
                )
    for event in made:
        event.at = at
    return made


def _event(
    row: Any,
    index: int,
    kind: str,
    component: str,
    component_kind: str,
    tool: str,
    fields: dict[str, Any],
    run_key: str | None,
) -> Event:
    body = {"event_type": kind, "component_tool": tool, **fields}
    if run_key:
        body["run_key"] = run_key
    return Event(
        kind=kind,
        component=component[:400],
        component_kind=component_kind,
        at=row.event_time,
        body=body,
        tool=tool,
        run_key=run_key,
        event_id=str(uuid.uuid5(_IDS, f"{row.id}:{index}")),
        source="openlineage",
    )


def follow(store: Any) -> int:
    """Turn the OpenLineage events received since the last call into events; how many
    OpenLineage events were read (at most ``BATCH``)."""
    db = database(store)
    with db.read() as conn:
        after = conn.execute(
            select(t.observe_cursors.c.position).where(t.observe_cursors.c.name == CURSOR)
        ).scalar()
        rows = conn.execute(
            select(t.lineage_events)
            .where(t.lineage_events.c.id > int(after or 0))
            .order_by(t.lineage_events.c.id)
            .limit(BATCH)
        ).all()
    if not rows:
        return 0
    made = [event for row in rows for event in events_of(row)]
    with db.read() as conn:  # kept already by a call that stopped before moving the cursor
        ids = [e.event_id for e in made]
        kept: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = select(t.events.c.event_id).where(t.events.c.event_id.in_(chunk))
            kept.update(r[0] for r in conn.execute(query))
    ingest(store, [e for e in made if e.event_id not in kept])
    with db.write("moving the OpenLineage cursor") as conn:
        db.upsert(conn, t.observe_cursors, ["name"], [{"name": CURSOR, "position": rows[-1].id}])
    return len(rows)
