"""The lineage graph: every model and source as a node, every read as an edge.

With ``nodeId`` the same route answers as Marquez's does: the OpenLineage graph (jobs and
datasets posted by any tool, headgate's own runs among them) around that node.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from headgate.facade.reading import data_status
from headgate.project.steps import graph_with_steps
from headgate.server.api.common import EnvQuery, etagged, published_answer
from headgate.server.api.quality import latest_results
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires
from headgate.server.stepinfo import step_nodes

router = APIRouter(tags=["lineage"])


@router.get(
    "/lineage",
    summary="The DAG as nodes and edges, each node with its state and its data's status",
    description="`status` is the data's: `failed` (a check of the published table failed or "
    "errored), `warn`, `stale` (the model changed since it was published), `not published`, "
    "or `ok`. An external step is a node of kind `step` (`step_kind` shell, python or dbt) "
    "whose status is its last run's (`built`, `failed`, ... or null: never run). "
    "`select` narrows the graph with the CLI's selection syntax. "
    "With `nodeId` (`dataset:<namespace>:<name>` or `job:<namespace>:<name>`) the answer is "
    "Marquez's: the OpenLineage graph around that node, `depth` jobs away at most, "
    "as `{graph: [{id, type, data, inEdges, outEdges}]}`.",
    dependencies=[Depends(requires(Permission.PROJECT_READ))],
)
def lineage_graph(
    request: Request,
    hub: Hub = Depends(get_hub),
    env: EnvQuery = None,
    select: Annotated[str | None, Query(max_length=1000)] = None,
    node_id: Annotated[
        str | None,
        Query(alias="nodeId", max_length=1000, description="Marquez's node id: see above."),
    ] = None,
    depth: Annotated[int, Query(ge=0, le=100, description="With nodeId: jobs away.")] = 20,
) -> Response:
    if node_id is not None:
        from headgate.observe.openlineage_read import lineage

        return etagged(request, lineage(hub.store, node_id, depth))

    def answer() -> dict[str, Any]:
        project = hub.project
        environment = project._environment(env)
        status = hub.cached(("status", environment), lambda: project.status(environment))
        chosen = project.select(select) if select else None
        worst: dict[str, str] = {}
        rank = {"pass": 0, "warn": 1, "fail": 2, "error": 2}
        for result in latest_results(hub, status.environment):
            before = worst.get(result.model)
            if before is None or rank.get(result.status, 0) > rank.get(before, 0):
                worst[result.model] = result.status
        nodes = []
        for model in status.models:
            if chosen is not None and model.name not in chosen:
                continue
            checks = worst.get(model.name)
            data = data_status(model.state, [checks] if checks else [])
            nodes.append(
                {
                    "id": model.name,
                    "kind": model.kind,
                    "materialized": model.materialized,
                    "state": model.state,
                    "checks": checks,
                    "status": data,
                    "rows": model.rows,
                }
            )
        nodes += step_nodes(project, status.environment, chosen)
        shown = {n["id"] for n in nodes}
        graph = graph_with_steps(project.loaded.dag.upstream, project.loaded.steps)
        edges = [
            {"from": parent, "to": name}
            for name, parents in graph.items()
            if name in shown
            for parent in sorted(parents)
            if parent in shown
        ]
        body = {"environment": status.environment, "nodes": nodes, "edges": edges}
        return body

    return published_answer(request, hub, answer)
