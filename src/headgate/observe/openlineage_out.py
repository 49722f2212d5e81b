"""OpenLineage out: headgate's own runs as OpenLineage events, posted to a consumer.

With ``openlineage:`` in headgate.yml (:mod:`headgate.observe.openlineage_config`), every
run posts, once it has ended:

- the run itself: a job named ``<project>.<environment>``, START and COMPLETE (or FAIL
  with the run's error);
- a job per model built (or failed): START and COMPLETE or FAIL, its ``parent`` facet
  naming the run, its SQL (``sql``), its inputs (upstream models and source tables, with
  their schema), its output with ``schema``, ``columnLineage`` (sqlglot),
  ``dataQualityAssertions`` (its checks), ``dataQualityMetrics`` (the build's metrics)
  and ``outputStatistics``; a failed build carries ``errorMessage``.

Events are built and posted by a thread of their own, after the run's result is known:
a slow or unreachable consumer costs the run nothing (each post has a timeout, a failure
is logged). No secret leaves: the datasets' namespace names the engine without
credentials, and any URL with a password in an error message is masked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from headgate import __version__
from headgate.observe.openlineage import database
from headgate.observe.openlineage_config import OpenLineageConfig
from headgate.state import tables as t

log = logging.getLogger("headgate.openlineage")

PRODUCER = f"https://github.com/headgate/headgate/tree/{__version__}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACETS = "https://openlineage.io/spec/facets/1-0-0/"
_CREDENTIALS = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_SECRET_WORDS = re.compile(r"(?i)(password|passwd|pwd|secret|token|api_key)=([^\s&;),]+)")
_pending: list[threading.Thread] = []
_guard = threading.Lock()


def mask(text: str) -> str:
    """``text`` with every password in a URL or ``password=...`` pair shown as ``***``.

    >>> mask("cannot connect to postgresql://app:s3cret@db:5432/shop (password=s3cret)")
    'cannot connect to postgresql://app:***@db:5432/shop (password=***)'
    """
    return _SECRET_WORDS.sub(r"\1=***", _CREDENTIALS.sub(r"\1***@", text))


def emit_run(project: Any, plan: Any, store: Any, result: Any) -> threading.Thread | None:
    """Post the run's events from a thread of its own; None when none are configured."""
    config: OpenLineageConfig | None = getattr(project.config, "openlineage", None)
    if config is None or result.run_id is None:
        return None
    ended = datetime.now(UTC)
    thread = threading.Thread(
        target=_emit,
        args=(config, project, plan, store, result, ended),
        name=f"openlineage-run-{result.run_id}",
        daemon=False,  # a command that ends at once still finishes posting (timeouts bound it)
    )
    with _guard:
        _pending[:] = [p for p in _pending if p.is_alive()]
        _pending.append(thread)
    thread.start()
    return thread


def wait_for_emissions(timeout: float = 30.0) -> None:
    """Wait for every post under way (for tests and a clean shutdown)."""
    with _guard:
        threads = list(_pending)
    for thread in threads:
        thread.join(timeout)


def _emit(
    config: OpenLineageConfig, project: Any, plan: Any, store: Any, result: Any, ended: datetime
) -> None:
    try:
        events = run_events(config, project, store, result, ended)
    except Exception:
        log.warning(
            "run %s: its OpenLineage events could not be built", result.run_id, exc_info=True
        )
        return
    for event in events:
        if not _post(config, event):
            return  # the consumer is down or refuses: the rest would fail the same way


def _post(config: OpenLineageConfig, event: dict[str, Any]) -> bool:
    url = config.url.rstrip("/") + "/" + config.endpoint.lstrip("/")
    headers = {"Content-Type": "application/json", "User-Agent": f"headgate/{__version__}"}
    key = os.environ.get(config.api_key_env) if config.api_key_env else None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        url, data=json.dumps(event).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("OpenLineage: posting to %s failed: %s", mask(url), mask(str(exc)))
        return False


def run_events(
    config: OpenLineageConfig, project: Any, store: Any, result: Any, ended: datetime
) -> list[dict[str, Any]]:
    """The run's events, in order: the run's START, each model's START and end, the run's end."""
    name = project.config.name
    job_ns = config.namespace or name
    data_ns = dataset_namespace(project)
    run_uuid = str(uuid.uuid4())
    started = ended - timedelta(seconds=float(result.seconds or 0.0))
    times = _task_times(store, result.run_id)
    run_job = {"namespace": job_ns, "name": f"{name}.{result.environment}"}
    parent = {
        "_producer": PRODUCER,
        "_schemaURL": FACETS + "ParentRunFacet.json",
        "run": {"runId": run_uuid},
        "job": run_job,
    }
    columns = _columns(store, [task.fingerprint for task in result.tasks])
    events = [_event("START", started, run_uuid, run_job, {}, [], [])]
    for task in result.tasks:
        if task.kind != "model" or task.status not in ("built", "failed"):
            continue
        events += _model_events(project, store, task, times, parent, columns, job_ns, data_ns)
    failed = result.status == "failed"
    facets = _error(result.message or "the run failed") if failed else {}
    events.append(
        _event("FAIL" if failed else "COMPLETE", ended, run_uuid, run_job, facets, [], [])
    )
    return events


def dataset_namespace(project: Any) -> str:
    """Where the project's tables live, as OpenLineage names it, without credentials."""
    engine = project.config.engine
    if engine.type == "postgres":
        url = mask(engine.url)
        host = url.split("@", 1)[-1].split("://", 1)[-1]
        return "postgres://" + host.split("?", 1)[0]
    if engine.type == "spark":
        return f"spark://{project.config.name}"
    return f"duckdb://{project.config.name}"


def _model_events(
    project: Any,
    store: Any,
    task: Any,
    times: dict[str, tuple[datetime | None, datetime | None]],
    parent: dict[str, Any],
    columns: dict[str, list[list[str]]],
    job_ns: str,
    data_ns: str,
) -> list[dict[str, Any]]:
    model = project.models.get(task.name)
    run_uuid = str(uuid.uuid4())
    job = {"namespace": job_ns, "name": task.name}
    job_facets: dict[str, Any] = {
        "jobType": _facet(
            "JobTypeJobFacet", processingType="BATCH", integration="HEADGATE", jobType="MODEL"
        )
    }
    if model is not None and model.language == "sql":
        job_facets["sql"] = _facet("SQLJobFacet", query=model.normalized, dialect="duckdb")
    upstream = sorted(project.dag.upstream.get(task.name, ()))
    inputs = [{"namespace": data_ns, "name": name, "facets": {}} for name in upstream]
    output_facets: dict[str, Any] = {}
    own = columns.get(task.fingerprint)
    if own:
        output_facets["schema"] = _schema(own)
    lineage = _column_lineage(model, upstream, project, store, data_ns)
    if lineage:
        output_facets["columnLineage"] = lineage
    if task.checks:
        output_facets["dataQualityAssertions"] = _facet(
            "DataQualityAssertionsDatasetFacet",
            assertions=[
                {
                    "assertion": check.check.type,
                    "success": check.status in ("pass", "warn"),
                    "column": check.check.column,
                    "severity": check.check.severity,
                }
                for check in task.checks
            ],
        )
    metrics = _metrics(store, task)
    if metrics:
        output_facets["dataQualityMetrics"] = metrics
    output = {"namespace": data_ns, "name": task.name, "facets": output_facets}
    if task.rows is not None:
        output["outputFacets"] = {
            "outputStatistics": _facet("OutputStatisticsOutputDatasetFacet", rowCount=task.rows)
        }
    start, end = times.get(task.name, (None, None))
    now = datetime.now(UTC)
    start = start or now
    end = end or start
    run_facets = {"parent": parent}
    events = [_event("START", start, run_uuid, job, run_facets, inputs, [output], job_facets)]
    if task.status == "failed":
        run_facets = {**run_facets, **_error(task.error or "the build failed")}
        events.append(_event("FAIL", end, run_uuid, job, run_facets, inputs, []))
    else:
        events.append(_event("COMPLETE", end, run_uuid, job, run_facets, inputs, [output]))
    return events


def _event(
    kind: str,
    at: datetime,
    run_id: str,
    job: dict[str, str],
    run_facets: dict[str, Any],
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    job_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventType": kind,
        "eventTime": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": run_facets},
        "job": {**job, "facets": job_facets or {}},
        "inputs": inputs,
        "outputs": outputs,
    }


def _facet(kind: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": f"{FACETS}{kind}.json", **fields}


def _error(message: str) -> dict[str, Any]:
    return {
        "errorMessage": _facet(
            "ErrorMessageRunFacet", message=mask(message)[:4000], programmingLanguage="SQL"
        )
    }


def _schema(columns: Iterable[list[str]]) -> dict[str, Any]:
    return _facet(
        "SchemaDatasetFacet", fields=[{"name": name, "type": kind} for name, kind in columns]
    )


def _task_times(store: Any, run_id: int) -> dict[str, tuple[datetime | None, datetime | None]]:
    tasks = t.tasks
    with database(store).read() as conn:
        rows = conn.execute(
            select(tasks.c.name, tasks.c.started_at, tasks.c.ended_at).where(
                tasks.c.run_id == run_id
            )
        )
        return {name: (start, end) for name, start, end in rows}


def _columns(store: Any, fingerprints: list[str]) -> dict[str, list[list[str]]]:
    versions = t.model_versions
    with database(store).read() as conn:
        rows = conn.execute(
            select(versions.c.fingerprint, versions.c.columns).where(
                versions.c.fingerprint.in_(fingerprints)
            )
        )
        return {fingerprint: list(cols or []) for fingerprint, cols in rows}


def _metrics(store: Any, task: Any) -> dict[str, Any] | None:
    metrics = t.model_metrics
    with database(store).read() as conn:
        rows = conn.execute(
            select(metrics.c.metric, metrics.c.value).where(
                (metrics.c.model == task.name) & (metrics.c.physical_table == task.physical_table)
            )
        ).all()
    if not rows:
        return None
    rows_count = task.rows or 0
    per_column: dict[str, dict[str, Any]] = {}
    for key, value in rows:
        metric, _, column = str(key).partition(":")
        if not column:
            continue
        slot = per_column.setdefault(column, {})
        if metric == "null_fraction":
            slot["nullCount"] = round(value * rows_count)
        elif metric == "distinct_fraction":
            slot["distinctCount"] = round(value * rows_count)
        elif metric in ("min", "max"):
            slot[metric] = value
    return _facet("DataQualityMetricsDatasetFacet", rowCount=task.rows, columnMetrics=per_column)


def _column_lineage(
    model: Any, upstream: list[str], project: Any, store: Any, data_ns: str
) -> dict[str, Any] | None:
    """Each output column and the input columns it is computed from (sqlglot)."""
    if model is None or model.language != "sql":
        return None
    from headgate.plan.lineage import column_sources, schema_of

    known = _latest_columns(store, upstream)
    try:
        found = column_sources(model.normalized, schema_of(known))
    except Exception:  # lineage is a bonus: a query sqlglot cannot trace has none
        return None
    if not found:
        return None
    fields = {
        column: {
            "inputFields": [
                {"namespace": data_ns, "name": table, "field": field} for table, field in sources
            ]
        }
        for column, sources in found.items()
        if sources
    }
    return _facet("ColumnLineageDatasetFacet", fields=fields) if fields else None


def _latest_columns(store: Any, names: list[str]) -> dict[str, list[list[str]]]:
    versions = t.model_versions
    found: dict[str, list[list[str]]] = {}
    with database(store).read() as conn:
        rows = conn.execute(
            select(versions.c.model, versions.c.columns)
            .where(versions.c.model.in_(names))
            .order_by(versions.c.created_at)
        )
        for model, cols in rows:
            found[model] = list(cols or [])
    return found
