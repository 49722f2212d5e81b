"""OpenLineage read back in Marquez's shapes: namespaces, jobs, runs, datasets, the graph.

The shapes are Marquez's (its ``spec/openapi.yml``), so the tools and scripts written
for a Marquez server read a hub unchanged. Times are ISO 8601 in UTC.

The lineage graph starts at a node id, ``dataset:<namespace>:<name>`` or
``job:<namespace>:<name>`` (a namespace may itself hold colons, as in
``postgres://db:5432``), and walks jobs and datasets both ways, ``depth`` jobs away at
most: a dataset's writers and readers, their inputs and outputs, and so on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select, union

from headgate.errors import HeadgateError
from headgate.observe.openlineage import database
from headgate.state import tables as t


class NotFound(HeadgateError):
    """A namespace, job, run or dataset the hub has never heard of (404)."""

    status = 404


Node = tuple[str, str, str]  # ("dataset" | "job", namespace, name)


def namespaces(store: Any, *, limit: int, offset: int) -> dict[str, Any]:
    """Every namespace a job or dataset lives in."""
    with database(store).read() as conn:
        found = _namespaces(conn)
    shown = found[offset : offset + limit]
    return {"namespaces": [_namespace(*row) for row in shown], "totalCount": len(found)}


def namespace(store: Any, name: str) -> dict[str, Any]:
    with database(store).read() as conn:
        for row in _namespaces(conn):
            if row[0] == name:
                return _namespace(*row)
    raise NotFound(f"namespace {name!r} is unknown: no job or dataset lives in it")


def _namespaces(conn: Connection) -> list[tuple[str, datetime, datetime]]:
    jobs, datasets = t.lineage_jobs, t.lineage_datasets
    both = union(
        select(jobs.c.namespace, jobs.c.created_at, jobs.c.updated_at),
        select(datasets.c.namespace, datasets.c.created_at, datasets.c.updated_at),
    ).subquery()
    rows = conn.execute(
        select(both.c.namespace, func.min(both.c.created_at), func.max(both.c.updated_at))
        .group_by(both.c.namespace)
        .order_by(both.c.namespace)
    ).all()
    return [(r[0], _aware(r[1]), _aware(r[2])) for r in rows]


def _namespace(name: str, created: datetime, updated: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "createdAt": _iso(created),
        "updatedAt": _iso(updated),
        "ownerName": "anonymous",
        "description": None,
        "isHidden": False,
    }


def jobs(store: Any, ns: str, *, limit: int, offset: int) -> dict[str, Any]:
    table = t.lineage_jobs
    with database(store).read() as conn:
        total = conn.execute(
            select(func.count()).select_from(table).where(table.c.namespace == ns)
        ).scalar_one()
        rows = conn.execute(
            select(table.c.name)
            .where(table.c.namespace == ns)
            .order_by(table.c.name)
            .limit(limit)
            .offset(offset)
        ).scalars()
        found = [_job(conn, ns, name) for name in rows]
    return {"jobs": found, "totalCount": total}


def job(store: Any, ns: str, name: str) -> dict[str, Any]:
    with database(store).read() as conn:
        return _job(conn, ns, name)


def _job(conn: Connection, ns: str, name: str) -> dict[str, Any]:
    table = t.lineage_jobs
    row = (
        conn.execute(select(table).where((table.c.namespace == ns) & (table.c.name == name)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"job {name!r} is unknown in namespace {ns!r}")
    edges = t.lineage_edges
    found = conn.execute(
        select(edges.c.dataset_namespace, edges.c.dataset_name, edges.c.direction)
        .where((edges.c.job_namespace == ns) & (edges.c.job_name == name))
        .order_by(edges.c.dataset_namespace, edges.c.dataset_name)
    ).all()
    facets = row["facets"]
    latest = _run_by_id(conn, row["latest_run_id"]) if row["latest_run_id"] else None
    parent = facets.get("parent", {}).get("job", {}) if isinstance(facets, dict) else {}
    return {
        "id": {"namespace": ns, "name": name},
        "type": row["type"],
        "name": name,
        "simpleName": name.rsplit(".", 1)[-1],
        "parentJobName": parent.get("name"),
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
        "namespace": ns,
        "inputs": [{"namespace": d[0], "name": d[1]} for d in found if d[2] == "in"],
        "outputs": [{"namespace": d[0], "name": d[1]} for d in found if d[2] == "out"],
        "location": facets.get("sourceCodeLocation", {}).get("url"),
        "description": facets.get("documentation", {}).get("description"),
        "latestRun": latest,
        "facets": facets,
        "currentVersion": None,
    }


def runs(store: Any, ns: str, job_name: str, *, limit: int, offset: int) -> dict[str, Any]:
    table = t.lineage_runs
    where = (table.c.job_namespace == ns) & (table.c.job_name == job_name)
    with database(store).read() as conn:
        _job(conn, ns, job_name)  # an unknown job is a 404, not an empty list
        total = conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()
        rows = (
            conn.execute(
                select(table)
                .where(where)
                .order_by(table.c.created_at.desc(), table.c.run_id)
                .limit(limit)
                .offset(offset)
            )
            .mappings()
            .all()
        )
    return {"runs": [_run(row) for row in rows], "totalCount": total}


def run(store: Any, run_id: str) -> dict[str, Any]:
    with database(store).read() as conn:
        found = _run_by_id(conn, run_id)
    if found is None:
        raise NotFound(f"run {run_id!r} is unknown")
    return found


def _run_by_id(conn: Connection, run_id: str) -> dict[str, Any] | None:
    table = t.lineage_runs
    row = conn.execute(select(table).where(table.c.run_id == run_id)).mappings().first()
    return _run(row) if row is not None else None


def _run(row: Any) -> dict[str, Any]:
    started, ended = row["started_at"], row["ended_at"]
    duration = int((ended - started).total_seconds() * 1000) if started and ended else None
    return {
        "id": row["run_id"],
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
        "nominalStartTime": _iso(row["nominal_start"]),
        "nominalEndTime": _iso(row["nominal_end"]),
        "state": row["state"],
        "startedAt": _iso(started),
        "endedAt": _iso(ended),
        "durationMs": duration,
        "args": {},
        "jobVersion": {
            "namespace": row["job_namespace"],
            "name": row["job_name"],
            "version": None,
        },
        "inputDatasetVersions": [_version(d) for d in row["inputs"]],
        "outputDatasetVersions": [_version(d) for d in row["outputs"]],
        "context": {},
        "facets": row["facets"],
    }


def _version(dataset: dict[str, Any]) -> dict[str, Any]:
    return {
        "datasetVersionId": {
            "namespace": dataset["namespace"],
            "name": dataset["name"],
            "version": None,
        },
        "facets": dataset.get("facets", {}),
    }


def datasets(store: Any, ns: str, *, limit: int, offset: int) -> dict[str, Any]:
    table = t.lineage_datasets
    with database(store).read() as conn:
        total = conn.execute(
            select(func.count()).select_from(table).where(table.c.namespace == ns)
        ).scalar_one()
        rows = (
            conn.execute(
                select(table)
                .where(table.c.namespace == ns)
                .order_by(table.c.name)
                .limit(limit)
                .offset(offset)
            )
            .mappings()
            .all()
        )
    return {"datasets": [_dataset(row) for row in rows], "totalCount": total}


def dataset(store: Any, ns: str, name: str) -> dict[str, Any]:
    with database(store).read() as conn:
        row = _dataset_row(conn, ns, name)
    if row is None:
        raise NotFound(f"dataset {name!r} is unknown in namespace {ns!r}")
    return _dataset(row)


def _dataset_row(conn: Connection, ns: str, name: str) -> Any:
    table = t.lineage_datasets
    return (
        conn.execute(select(table).where((table.c.namespace == ns) & (table.c.name == name)))
        .mappings()
        .first()
    )


def _dataset(row: Any) -> dict[str, Any]:
    facets = row["facets"]
    fields = facets.get("schema", {}).get("fields", [])
    source = facets.get("dataSource", {}).get("name") or row["namespace"]
    return {
        "id": {"namespace": row["namespace"], "name": row["name"]},
        "type": "DB_TABLE",
        "name": row["name"],
        "physicalName": row["name"],
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
        "namespace": row["namespace"],
        "sourceName": source,
        "fields": [
            {
                "name": f.get("name"),
                "type": f.get("type"),
                "tags": [],
                "description": f.get("description"),
            }
            for f in fields
            if isinstance(f, dict)
        ],
        "tags": [],
        "lastModifiedAt": _iso(row["last_modified_at"]),
        "lastLifecycleState": facets.get("lifecycleStateChange", {}).get("lifecycleStateChange"),
        "description": facets.get("documentation", {}).get("description"),
        "currentVersion": None,
        "columnLineage": None,
        "facets": facets,
        "deleted": False,
    }


def events(
    store: Any, *, before: datetime | None, after: datetime | None, limit: int, offset: int
) -> dict[str, Any]:
    """The events received, newest first, as they were posted."""
    table = t.lineage_events
    where = []
    if before is not None:
        where.append(table.c.event_time <= before)
    if after is not None:
        where.append(table.c.event_time >= after)
    with database(store).read() as conn:
        total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        rows = conn.execute(
            select(table.c.event)
            .where(*where)
            .order_by(table.c.event_time.desc(), table.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).scalars()
        return {"events": list(rows), "totalCount": total}


def lineage(store: Any, node_id: str, depth: int) -> dict[str, Any]:
    """The graph around ``node_id``, ``depth`` jobs away at most, in Marquez's shape."""
    with database(store).read() as conn:
        start = _resolve(conn, node_id)
        nodes, links = _walk(conn, start, depth)
        graph = []
        for node in sorted(nodes):
            kind, ns, name = node
            data = _job(conn, ns, name) if kind == "job" else _dataset_or_stub(conn, ns, name)
            key = _node_id(node)
            graph.append(
                {
                    "id": key,
                    "type": kind.upper(),
                    "data": data,
                    "inEdges": [
                        {"origin": _node_id(a), "destination": key}
                        for a, b in sorted(links)
                        if b == node
                    ],
                    "outEdges": [
                        {"origin": key, "destination": _node_id(b)}
                        for a, b in sorted(links)
                        if a == node
                    ],
                }
            )
    return {"graph": graph}


def _resolve(conn: Connection, node_id: str) -> Node:
    """The node ``node_id`` names; the namespace is the prefix that is known."""
    kind, _, rest = node_id.partition(":")
    if kind not in ("dataset", "job") or ":" not in rest:
        raise HeadgateError(
            f"nodeId {node_id!r} is not dataset:<namespace>:<name> or job:<namespace>:<name>"
        )
    table = t.lineage_datasets if kind == "dataset" else t.lineage_jobs
    cut = rest.find(":")
    while cut != -1:
        ns, name = rest[:cut], rest[cut + 1 :]
        known = conn.execute(
            select(func.count())
            .select_from(table)
            .where((table.c.namespace == ns) & (table.c.name == name))
        ).scalar_one()
        if known:
            return (kind, ns, name)
        cut = rest.find(":", cut + 1)
    raise NotFound(f"{kind} {rest!r} is unknown: nothing was posted about it")


def _walk(conn: Connection, start: Node, depth: int) -> tuple[set[Node], set[tuple[Node, Node]]]:
    """Nodes and directed links (job -> written dataset, read dataset -> job) near ``start``:
    jobs at most ``depth`` jobs away (the start job is 0 away), and every dataset they touch."""
    edges = t.lineage_edges
    away = {start: 0}
    links: set[tuple[Node, Node]] = set()
    frontier = [start]
    while frontier:
        reached: list[Node] = []
        for node in frontier:
            kind, ns, name = node
            if kind == "dataset" and away[node] >= depth:
                continue  # the next job is one too far
            if kind == "job":
                where = (edges.c.job_namespace == ns) & (edges.c.job_name == name)
            else:
                where = (edges.c.dataset_namespace == ns) & (edges.c.dataset_name == name)
            for row in conn.execute(select(edges).where(where)).mappings():
                job_node: Node = ("job", row["job_namespace"], row["job_name"])
                data_node: Node = ("dataset", row["dataset_namespace"], row["dataset_name"])
                writes = row["direction"] == "out"
                links.add((job_node, data_node) if writes else (data_node, job_node))
                other = data_node if kind == "job" else job_node
                if other not in away:
                    away[other] = away[node] + (other[0] == "job")
                    reached.append(other)
        frontier = reached
    return set(away), links


def _dataset_or_stub(conn: Connection, ns: str, name: str) -> dict[str, Any]:
    row = _dataset_row(conn, ns, name)
    if row is not None:
        return _dataset(row)
    return {"id": {"namespace": ns, "name": name}, "name": name, "namespace": ns}


def _node_id(node: Node) -> str:
    return f"{node[0]}:{node[1]}:{node[2]}"


def _aware(value: Any) -> datetime:
    """A time from an aggregate (SQLite gives its text back) as an aware UTC datetime."""
    found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")
