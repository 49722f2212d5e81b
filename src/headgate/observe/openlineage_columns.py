"""Column lineage in Marquez's shape, from the ``columnLineage`` facets posted.

``GET /column-lineage?nodeId=datasetField:<ns>:<dataset>:<field>`` (or ``dataset:<ns>:
<name>`` for every field of it) walks from a field to the fields it is computed from,
``depth`` steps up, and with ``withDownstream`` to the fields computed from it too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from headgate.errors import HeadgateError
from headgate.observe.openlineage import database
from headgate.observe.openlineage_read import _resolve
from headgate.state import tables as t

Field = tuple[str, str, str]  # namespace, dataset, field


def column_lineage(store: Any, node_id: str, depth: int, with_downstream: bool) -> dict[str, Any]:
    with database(store).read() as conn:
        starts = _starts(conn, node_id)
        lineage = _all_lineage(conn)
    upstream: dict[Field, list[tuple[Field, dict[str, Any]]]] = {}
    downstream: dict[Field, list[Field]] = {}
    for target, sources in lineage.items():
        upstream[target] = sources
        for source, _ in sources:
            downstream.setdefault(source, []).append(target)
    seen = set(starts)
    frontier = list(starts)
    for _ in range(depth):
        reached: list[Field] = []
        for node in frontier:
            near = [source for source, _ in upstream.get(node, [])]
            if with_downstream:
                near += downstream.get(node, [])
            for other in near:
                if other not in seen:
                    seen.add(other)
                    reached.append(other)
        frontier = reached
    graph = []
    for node in sorted(seen):
        key = _id(node)
        sources = upstream.get(node, [])
        graph.append(
            {
                "id": key,
                "type": "DATASET_FIELD",
                "data": {
                    "namespace": node[0],
                    "dataset": node[1],
                    "field": node[2],
                    "fieldType": None,
                    "transformationDescription": None,
                    "transformationType": None,
                    "inputFields": [
                        {
                            "namespace": s[0],
                            "dataset": s[1],
                            "field": s[2],
                            "transformationDescription": extra.get("transformationDescription"),
                            "transformationType": extra.get("transformationType"),
                        }
                        for s, extra in sources
                    ],
                },
                "inEdges": [
                    {"origin": _id(s), "destination": key} for s, _ in sources if s in seen
                ],
                "outEdges": [
                    {"origin": key, "destination": _id(d)}
                    for d in downstream.get(node, [])
                    if d in seen
                ],
            }
        )
    return {"graph": graph}


def _starts(conn: Connection, node_id: str) -> list[Field]:
    if node_id.startswith("datasetField:"):
        rest, _, field = node_id.removeprefix("datasetField:").rpartition(":")
        if not rest or not field:
            raise HeadgateError(
                f"nodeId {node_id!r} is not datasetField:<namespace>:<dataset>:<field>"
            )
        _, ns, name = _resolve(conn, f"dataset:{rest}")
        return [(ns, name, field)]
    _, ns, name = _resolve(conn, node_id)
    facets = conn.execute(
        select(t.lineage_datasets.c.facets).where(
            (t.lineage_datasets.c.namespace == ns) & (t.lineage_datasets.c.name == name)
        )
    ).scalar_one_or_none()
    fields = (facets or {}).get("schema", {}).get("fields", [])
    named = [str(f["name"]) for f in fields if isinstance(f, dict) and f.get("name")]
    lineage = (facets or {}).get("columnLineage", {}).get("fields", {})
    return [(ns, name, field) for field in dict.fromkeys([*named, *lineage])]


def _all_lineage(conn: Connection) -> dict[Field, list[tuple[Field, dict[str, Any]]]]:
    """Each field with a ``columnLineage`` entry -> the fields it is computed from."""
    found: dict[Field, list[tuple[Field, dict[str, Any]]]] = {}
    rows = conn.execute(
        select(
            t.lineage_datasets.c.namespace, t.lineage_datasets.c.name, t.lineage_datasets.c.facets
        )
    )
    for ns, name, facets in rows:
        fields = (facets or {}).get("columnLineage", {}).get("fields", {})
        if not isinstance(fields, dict):
            continue
        for field, entry in fields.items():
            inputs = entry.get("inputFields", []) if isinstance(entry, dict) else []
            found[(ns, name, str(field))] = [
                ((str(i.get("namespace")), str(i.get("name")), str(i.get("field"))), i)
                for i in inputs
                if isinstance(i, dict)
            ]
    return found


def _id(node: Field) -> str:
    return f"datasetField:{node[0]}:{node[1]}:{node[2]}"
