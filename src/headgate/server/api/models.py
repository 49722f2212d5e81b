"""Models and sources: the list with each one's state, one model's detail, column lineage."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from headgate.errors import HeadgateError
from headgate.server.api.common import (
    NAME_PATTERN,
    EnvQuery,
    Limit,
    Offset,
    page,
    published_answer,
)
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["models"])
ModelName = Annotated[
    str, Path(max_length=300, pattern=NAME_PATTERN, description="e.g. staging.orders")
]


@router.get(
    "/models",
    summary="Every model and source with its state in an environment",
    description="State is `up to date`, `changed` (since published) or `not published`; "
    "filter by kind, state, tag, owner or a part of the name.",
    dependencies=[Depends(requires(Permission.PROJECT_READ))],
)
def list_models(
    request: Request,
    hub: Hub = Depends(get_hub),
    env: EnvQuery = None,
    kind: Annotated[str | None, Query(pattern="^(model|source)$")] = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Response:
    def answer() -> dict[str, Any]:
        project = hub.project
        environment = project._environment(env)
        status = hub.cached(("status", environment), lambda: project.status(environment))
        loaded = project.loaded
        items = []
        for model in status.models:
            parsed = loaded.models.get(model.name)
            options = parsed.options if parsed else None
            item = {
                "name": model.name,
                "kind": model.kind,
                "materialized": model.materialized,
                "state": model.state,
                "fingerprint": model.fingerprint,
                "published_fingerprint": model.published_fingerprint,
                "rows": model.rows,
                "published_at": model.published_at,
                "tags": list(options.tags) if options else [],
                "owner": options.owner if options else None,
                "description": options.description
                if options
                else _source_description(hub, model.name),
            }
            if kind and item["kind"] != kind:
                continue
            if state and item["state"] != state:
                continue
            if tag and tag not in (options.tags if options else []):
                continue
            if owner and item["owner"] != owner:
                continue
            if q and q.lower() not in model.name:
                continue
            items.append(item)
        body = page(
            items,
            limit=limit,
            offset=offset,
            environment=status.environment,
            counts=status.counts,
            last_run=status.last_run.id if status.last_run else None,
        )
        return body

    return published_answer(request, hub, answer)


@router.get(
    "/models/{name}",
    summary="One model or source: SQL, columns and descriptions, options, up- and downstream",
    dependencies=[Depends(requires(Permission.PROJECT_READ))],
)
def model_detail(
    name: ModelName, hub: Hub = Depends(get_hub), env: EnvQuery = None
) -> dict[str, Any]:
    project = hub.project
    loaded = project.loaded
    lowered = name.lower()
    environment = project._environment(env)
    dag = loaded.dag
    if lowered in loaded.sources:
        return _source_detail(hub, lowered, environment)
    model_name = project._model_name(name)
    model = loaded.models[model_name]
    options = model.options
    pointer = project.state.env_models(environment).get(model_name)
    fingerprint = project.fingerprints[model_name]
    versions = project.state.model_versions([fingerprint])
    version = versions.get(fingerprint)
    declared = {c: o.description for c, o in options.columns.items()}
    typed = [[c, t] for c, t in version.columns] if version else []
    columns: list[dict[str, str | None]] = [
        {"name": c, "type": t, "description": declared.get(c.lower()) or declared.get(c)}
        for c, t in typed
    ]
    known = {str(c["name"]).lower() for c in columns}
    columns += [
        {"name": c, "type": None, "description": d}
        for c, d in declared.items()
        if c.lower() not in known
    ]
    return {
        "name": model_name,
        "kind": "model",
        "language": model.language,
        "path": str(model.path),
        "sql": _text(project.root / model.path),
        "materialized": options.materialized,
        "description": options.description,
        "owner": options.owner,
        "tags": list(options.tags),
        "unique_key": options.unique_key,
        "time_column": options.time_column,
        "columns": columns,
        "upstream": sorted(dag.upstream.get(model_name, [])),
        "downstream": sorted(dag.downstream.get(model_name, [])),
        "checks": [c.name for c in project.checks.of(model_name)],
        "fingerprint": fingerprint,
        "environment": environment,
        "published": _pointer(pointer),
    }


@router.get(
    "/models/{name}/lineage",
    summary="Column lineage: for each of the model's columns, the upstream columns it reads",
    dependencies=[Depends(requires(Permission.PROJECT_READ))],
)
def column_lineage(name: ModelName, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    project = hub.project
    lowered = name.lower()
    if lowered in project.loaded.sources:
        return {"name": lowered, "columns": {}, "known": True}
    model_name = project._model_name(name)
    model = project.loaded.models[model_name]
    fingerprint = project.fingerprints[model_name]
    if model.language != "sql":
        return {"name": model_name, "columns": {}, "known": False}
    cached = _LINEAGE.get(fingerprint)
    if cached is None:
        cached = _lineage_of(hub, model_name)
        _LINEAGE.put(fingerprint, cached)
    return {"name": model_name, "columns": cached, "known": bool(cached)}


class _Kept:
    """The last answers computed per fingerprint (column lineage costs a parse per column)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, key: str) -> Any:
        with self._guard:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: str, value: Any) -> None:
        with self._guard:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_LINEAGE = _Kept(512)


def _lineage_of(hub: Hub, model_name: str) -> dict[str, list[dict[str, str]]]:
    from headgate.plan.lineage import column_sources, schema_of

    project = hub.project
    model = project.loaded.models[model_name]
    upstream = project.loaded.dag.upstream.get(model_name, [])
    versions = project.state.model_versions([project.fingerprints[n] for n in upstream])
    schema = schema_of({v.model: v.columns for v in versions.values()})
    found = column_sources(model.normalized, schema) or {}
    return {
        column: [{"model": table, "column": name} for table, name in sources]
        for column, sources in found.items()
    }


def _source_detail(hub: Hub, name: str, environment: str) -> dict[str, Any]:
    project = hub.project
    source = project.loaded.sources[name]
    fingerprint = project.fingerprints[name]
    version = project.state.model_versions([fingerprint]).get(fingerprint)
    columns = [
        {"name": c, "type": t, "description": None} for c, t in (version.columns if version else [])
    ]
    if not columns:
        declared = getattr(source.config, "columns", None) or {}
        columns = [{"name": c, "type": str(t), "description": None} for c, t in declared.items()]
    pointer = project.state.env_models(environment).get(name)
    return {
        "name": name,
        "kind": "source",
        "source_type": source.kind,
        "path": f"sources/{source.declared_in.name}",
        "sql": None,
        "description": _source_description(hub, name),
        "columns": columns,
        "files": [f for f, _, _ in source.files],
        "upstream": [],
        "downstream": sorted(project.loaded.dag.downstream.get(name, [])),
        "checks": [c.name for c in project.checks.of(name)],
        "fingerprint": fingerprint,
        "environment": environment,
        "published": _pointer(pointer),
    }


def _source_description(hub: Hub, name: str) -> str | None:
    source = hub.project.loaded.sources.get(name)
    if source is None:
        return None
    return getattr(source.config, "description", None) or getattr(
        source.source_config, "description", None
    )


def _pointer(pointer: Any) -> dict[str, Any] | None:
    if pointer is None:
        return None
    return {
        "fingerprint": pointer.fingerprint,
        "physical_table": pointer.physical_table,
        "published_at": pointer.published_at.isoformat() if pointer.published_at else None,
        "run_id": pointer.run_id,
    }


def _text(path: Any) -> str | None:
    try:
        text: str = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise HeadgateError(f"cannot read {path}: {exc}") from None
    return text
