"""What a model's page shows, read through the facade and the metadata store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headgate.server.ui.drawing import control_chart_svg, lineage_svg
from headgate.server.ui.health import environment_health
from headgate.server.ui.views import cached_layout

if TYPE_CHECKING:
    from headgate.checks.spec import Check
    from headgate.facade import Project
    from headgate.state.records import CheckResultRecord

NEIGHBOURHOOD = 2  # levels up and down drawn on a model's page
RECENT_BUILDS = 10
RESULTS_READ = 300


@dataclass
class ColumnRow:
    name: str
    type: str
    description: str = ""
    checks: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class CheckRow:
    name: str
    type: str
    column: str | None
    severity: str
    result: CheckResultRecord | None


@dataclass
class BuildRow:
    table: str
    fingerprint: str
    rows: int | None
    seconds: float | None
    created_at: Any
    run_id: int | None
    audit: str | None
    published: bool


CHART_NAMES = {
    "western_electric": "Western Electric rules",
    "ewma": "EWMA",
    "cusum": "CUSUM",
    "weekly": "by weekday",
}


def model_page_context(project: Project, name: str, environment: str) -> dict[str, Any]:
    health = environment_health(project, environment, deployments=0)
    model_health = health.models.get(name)
    loaded = project.loaded
    model = loaded.models.get(name)
    source = loaded.sources.get(name)
    store = project.state
    pointer = store.env_models(environment).get(name)
    fingerprint = project.fingerprints[name]
    versions = store.model_versions([fingerprint] + ([pointer.fingerprint] if pointer else []))
    version = versions.get(pointer.fingerprint if pointer else fingerprint) or versions.get(
        fingerprint
    )
    declared = project.checks.of(name) if model is not None else []
    text = _file_text(project, model.path if model else source.declared_in if source else None)
    return {
        "name": name,
        "model": model,
        "source": source,
        "kind": "model" if model else "source",
        "health": model_health,
        "pointer": pointer,
        "fingerprint": fingerprint,
        "text": text,
        "language": model.language if model else "yaml",
        "columns": _columns(project, name, version.columns if version else [], declared),
        "checks": _checks(store, name, declared, pointer.physical_table if pointer else None),
        "charts": _charts(project, name, declared),
        "builds": _builds(project, name, pointer.physical_table if pointer else None),
        "neighbourhood": _neighbourhood(project, name, environment, health),
        "upstream": sorted(loaded.dag.upstream.get(name, [])),
        "downstream": sorted(loaded.dag.downstream.get(name, [])),
        "deliveries": _deliveries(project, name),
    }


def _file_text(project: Project, path: Any) -> str:
    if path is None:
        return ""
    full = path if path.is_absolute() else project.root / path
    try:
        return str(full.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""


def _columns(
    project: Project, name: str, columns: list[list[str]], declared: list[Check]
) -> list[ColumnRow]:
    model = project.loaded.models.get(name)
    options = model.options.columns if model else {}
    by_column: dict[str, list[str]] = {}
    for check in declared:
        if check.column:
            by_column.setdefault(check.column.lower(), []).append(check.type)
    sources = _column_sources(project, name) if model and model.language == "sql" else {}
    rows = []
    for column, kind in columns:
        lowered = column.lower()
        described = options.get(column) or options.get(lowered)
        rows.append(
            ColumnRow(
                column,
                kind,
                (described.description or "") if described else "",
                by_column.get(lowered, []),
                sources.get(lowered, []),
            )
        )
    return rows


_sources_kept: dict[str, dict[str, list[tuple[str, str]]]] = {}


def _column_sources(project: Project, name: str) -> dict[str, list[tuple[str, str]]]:
    """Column lineage of the model's current SQL against its upstream's known columns."""
    from headgate.plan.lineage import column_sources, schema_of

    fingerprint = project.fingerprints[name]
    if fingerprint in _sources_kept:
        return _sources_kept[fingerprint]
    upstream = project.loaded.dag.upstream.get(name, [])
    wanted = [project.fingerprints[u] for u in upstream]
    versions = project.state.model_versions(wanted)
    schema = schema_of({v.model: v.columns for v in versions.values()})
    found = column_sources(project.loaded.models[name].normalized, schema) or {}
    if len(_sources_kept) > 500:
        _sources_kept.clear()
    _sources_kept[fingerprint] = found
    return found


def _checks(
    store: Any, name: str, declared: list[Check], published_table: str | None
) -> list[CheckRow]:
    """Each declared check with its latest result (on the published table when there is one)."""
    latest: dict[str, CheckResultRecord] = {}
    for record in store.check_results(model=name, limit=RESULTS_READ):
        if published_table and record.physical_table not in (published_table, None):
            continue
        latest.setdefault(record.check_name, record)
    rows = [
        CheckRow(c.name, c.type, c.column, c.severity, latest.pop(c.name, None)) for c in declared
    ]
    # results of checks no longer declared here (custom checks, renamed ones) still show
    rows += [CheckRow(r.check_name, r.check_type, r.column, r.severity, r) for r in latest.values()]
    order = {"fail": 0, "error": 0, "warn": 1}
    rows.sort(key=lambda r: (order.get(r.result.status, 2) if r.result else 3, r.name))
    return rows


def _charts(project: Project, name: str, declared: list[Check]) -> list[str]:
    """A control chart per monitor the model declares, and its row count over builds."""
    from headgate.checks.spc import monitor_spec
    from headgate.runtime.monitoring import recorded_chart, spec_of

    specs = []
    for check in declared:
        if check.type == "monitor":
            try:
                specs.append((check.name, spec_of(check)))
            except ValueError:
                continue
    if not any(spec.key == "row_count" for _, spec in specs):
        specs.append((f"{name}: row count per build", monitor_spec({"metric": "row_count"})))
    charts = []
    for title, spec in specs:
        chart = recorded_chart(project.state, name, spec)  # the chart its audits judge by
        if chart is None:
            continue
        history = project.state.metric_history(name, spec.key, limit=len(chart.points))
        values = [v for _, _, v in history]
        first = chart.points[0].index if chart.points else 0  # flags count from the series
        flagged = {i - first for flag in chart.flags for i in flag.indices}
        labels = [f"run {run} · {at:%Y-%m-%d %H:%M}" for run, at, _ in history]
        charts.append(
            control_chart_svg(
                [p.value for p in chart.points] or values,
                center=chart.center,
                limits=chart.limits,
                flagged=flagged,
                history=chart.history,
                labels=labels,
                title=f"{title} — {chart.verdict} ({CHART_NAMES.get(chart.chart, chart.chart)})",
            )
        )
    return charts


def _builds(project: Project, name: str, published_table: str | None) -> list[BuildRow]:
    """The model's latest builds: rows from the table registry, seconds from the run's task."""
    store = project.state  # this model's rows and tasks only: not every table, every task
    records = store.builds_of(name, limit=RECENT_BUILDS)
    seconds = store.task_seconds(name, [r.run_id for r in records if r.run_id is not None])
    return [
        BuildRow(
            r.name,
            r.fingerprint,
            r.rows,
            seconds.get(r.run_id) if r.run_id is not None else None,
            r.created_at,
            r.run_id,
            r.audit_status,
            r.name == published_table,
        )
        for r in records
    ]


def _neighbourhood(project: Project, name: str, environment: str, health: Any) -> str:
    """The model's lineage two levels up and down (steps among it), the model outlined."""
    from headgate.project.steps import dag_with_steps
    from headgate.server.stepinfo import lineage_statuses

    loaded = project.loaded
    dag = dag_with_steps(loaded.dag, loaded.steps)
    keep = {name}
    frontier = {name}
    for _ in range(NEIGHBOURHOOD):
        frontier = {p for n in frontier for p in dag.upstream.get(n, [])}
        keep |= frontier
    frontier = {name}
    for _ in range(NEIGHBOURHOOD):
        frontier = {c for n in frontier for c in dag.downstream.get(n, [])}
        keep |= frontier
    graph = {n: [p for p in dag.upstream.get(n, []) if p in keep] for n in sorted(keep)}
    layout = cached_layout(project, graph)
    statuses = {n: health.models[n].data for n in keep if n in health.models}
    kinds = {n: project.outline.kinds[n][0] for n in keep if n in project.outline.kinds}
    steps = {n: loaded.steps[n].config.kind for n in keep if n in loaded.steps}
    if steps:
        statuses.update(lineage_statuses(project, environment))
    return lineage_svg(
        layout, statuses, kinds=kinds, suffix=f"?env={environment}", focus=name, steps=steps
    )


def _deliveries(project: Project, name: str) -> list[tuple[str, str, str]]:
    """Deliveries reading the model or anything downstream of it: (name, type, through)."""
    from headgate.deliveries.registry import delivery_reads

    below = project.loaded.dag.descendants([name]) | {name}
    found = []
    for delivery_name, delivery in sorted(project.deliveries.items()):
        reads = [r.lower() for r in delivery_reads(delivery)]
        hit = next((r for r in reads if r in below), None)
        if hit is not None:
            found.append((delivery_name, delivery.type, hit))
    return found
