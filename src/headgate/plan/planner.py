"""Planning a run: for every model and source, what must happen to bring an environment up to date.

The plan is pure: it reads the project, the fingerprints, what the warehouse
holds and what the environment points at, and decides. The runtime carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from headgate.plan.intervals import align, as_utc, missing_ranges
from headgate.plan.naming import physical_table
from headgate.project.loader import LoadedProject
from headgate.state.records import EnvModel, Interval, PhysicalRecord

Action = Literal["build", "refresh", "incremental", "audit", "reuse", "unchanged", "excluded"]
WORK_ACTIONS = ("build", "refresh", "incremental", "audit")


@dataclass
class PlannedNode:
    name: str
    kind: str  # "model" | "source"
    materialized: str  # "table" | "view" | "incremental" | "source"
    fingerprint: str
    physical_table: str
    upstream: list[str]
    action: Action
    reason: str
    exists: bool = False
    ranges: list[tuple[datetime, datetime]] = field(default_factory=list)
    restate: tuple[datetime, datetime] | None = None
    replace: bool = False  # drop what is there and build again (full refresh)
    force: bool = False  # refresh even when inputs look unchanged (restatement)
    missing_upstream: list[str] = field(default_factory=list)  # unselected and never built

    @property
    def is_work(self) -> bool:
        return self.action in WORK_ACTIONS


@dataclass
class Plan:
    environment: str
    nodes: dict[str, PlannedNode]  # in dependency order
    removed: list[str]
    end: datetime
    selection: str | None = None
    registry: dict[str, PhysicalRecord] = field(default_factory=dict)  # what the plan was made from

    @property
    def work(self) -> list[PlannedNode]:
        return [n for n in self.nodes.values() if n.is_work]

    @property
    def to_publish(self) -> list[PlannedNode]:
        return [
            n for n in self.nodes.values() if n.action != "excluded" and n.action != "unchanged"
        ]

    def is_empty(self) -> bool:
        return not self.work and not self.to_publish and not self.removed


@dataclass
class PlanInputs:
    """Everything the planner reads besides the project."""

    fingerprints: dict[str, str]
    env_models: dict[str, EnvModel]
    registry: dict[str, PhysicalRecord]
    existing: set[str]
    intervals: dict[str, list[Interval]]
    physical_schema: str
    now: datetime
    check_hashes: dict[str, str] = field(default_factory=dict)  # model -> hash of its checks
    aliases: dict[str, str] = field(default_factory=dict)  # model -> older table it reuses

    def physical_of(self, name: str) -> str:
        """Where the model's current version lives: its own table, or one it provably shares."""
        return self.aliases.get(name) or physical_table(
            self.physical_schema, name, self.fingerprints[name]
        )


@dataclass
class PlanRequest:
    environment: str
    selected: set[str] | None = None  # None: everything
    full_refresh: bool = False
    restate: list[str] = field(default_factory=list)
    restate_start: datetime | None = None
    restate_end: datetime | None = None
    end: datetime | None = None
    selection: str | None = None


def make_plan(project: LoadedProject, inputs: PlanInputs, request: PlanRequest) -> Plan:
    restated = (
        set(request.restate) | project.dag.descendants(request.restate)
        if request.restate
        else set()
    )
    selected = request.selected
    if selected is not None:
        selected = selected | restated
    nodes: dict[str, PlannedNode] = {}
    for name in project.dag.order:
        node = _plan_node(project, inputs, request, name, nodes, selected, name in restated)
        nodes[name] = node
    removed = (
        []
        if selected is not None
        else sorted(
            name for name in set(inputs.env_models) - set(nodes) if not companion_of(name, nodes)
        )
    )
    end = request.end or inputs.now
    return Plan(request.environment, nodes, removed, as_utc(end), request.selection)


def _plan_node(
    project: LoadedProject,
    inputs: PlanInputs,
    request: PlanRequest,
    name: str,
    planned: dict[str, PlannedNode],
    selected: set[str] | None,
    restated: bool,
) -> PlannedNode:
    fingerprint = inputs.fingerprints[name]
    physical = inputs.physical_of(name)
    model = project.models.get(name)
    materialized = model.options.materialized if model else "source"
    node = PlannedNode(
        name=name,
        kind="model" if model else "source",
        materialized=materialized,
        fingerprint=fingerprint,
        physical_table=physical,
        upstream=list(project.dag.upstream[name]),
        action="unchanged",
        reason="up to date",
        exists=physical in inputs.existing,
    )
    pointer = inputs.env_models.get(name)
    published_here = pointer is not None and pointer.physical_table == physical
    if selected is not None and name not in selected:
        node.action, node.reason = "excluded", "not selected"
        return node
    node.missing_upstream = [
        u for u in node.upstream if planned[u].action == "excluded" and not planned[u].exists
    ]
    if request.full_refresh:
        node.action, node.reason, node.replace = "build", "full refresh", True
        if (
            model is not None
            and model.options.materialized == "incremental"
            and model.options.time_column
        ):
            node.ranges = _due_ranges(model, [], request, inputs)
        return node
    if not node.exists:
        node.action = "build"
        node.reason = "new version" if pointer is not None else "new"
        if (
            model is not None
            and model.options.materialized == "incremental"
            and model.options.time_column
        ):
            node.ranges = _due_ranges(model, [], request, inputs)
        return node
    source = project.sources.get(name)
    if source is not None and source.external:
        node.action, node.reason = "incremental", f"read new data from the {source.kind} source"
        return node
    if (
        model is not None
        and model.options.materialized == "incremental"
        and model.options.time_column
    ):
        done = inputs.intervals.get(physical, [])
        if restated and request.restate_start and request.restate_end:
            node.restate = (
                align(request.restate_start, model.options.interval),
                align(request.restate_end, model.options.interval),
            )
            # a restatement reprocesses exactly the asked range; catching up is a plain run's job
            node.ranges = _due_ranges(
                model, _cut(done, *node.restate), request, inputs, node.restate
            )
        else:
            node.ranges = _due_ranges(model, done, request, inputs)
        if node.ranges:
            node.action = "incremental"
            node.reason = "restated range" if node.restate else f"{len(node.ranges)} range(s) due"
            return node
    elif materialized != "view" and (restated or _inputs_changed(node, planned, inputs)):
        node.action, node.reason, node.force = "refresh", "upstream data changed", restated
        if restated:
            node.reason = "restated upstream"
        return node
    audit = _audit_reason(name, inputs)
    if audit:
        node.action, node.reason = "audit", audit
    elif not published_here:
        node.action, node.reason = "reuse", "already built; publish only"
    return node


def _audit_reason(name: str, inputs: PlanInputs) -> str | None:
    """Why an already-built table must be checked again before it may be published, if it must."""
    record = inputs.registry.get(inputs.physical_of(name))
    wanted = inputs.check_hashes.get(name)
    status = record.audit_status if record else None
    if wanted is None:
        return "its checks were removed; re-audit" if status == "failed" else None
    if record is None or record.audit_hash != wanted:
        return "checks changed; audit without rebuilding"
    if status != "passed":
        return "failed its checks before; audit again"
    return None


def _inputs_changed(node: PlannedNode, planned: dict[str, PlannedNode], inputs: PlanInputs) -> bool:
    """Upstream data changed in place (an incremental load, a refresh) since this table was built."""
    for parent in node.upstream:
        upstream = planned[parent]
        if upstream.action in ("incremental", "refresh"):
            return True
    record = inputs.registry.get(node.physical_table)
    if record is None:
        return False
    for parent in node.upstream:
        parent_physical = planned[parent].physical_table
        parent_record = inputs.registry.get(parent_physical)
        if (
            parent_record
            and record.inputs.get(parent_physical, parent_record.data_version)
            != parent_record.data_version
        ):
            return True
    return False


def _due_ranges(
    model: object,
    done: list[Interval],
    request: PlanRequest,
    inputs: PlanInputs,
    window: tuple[datetime, datetime] | None = None,
) -> list[tuple[datetime, datetime]]:
    from headgate.project.models import ParsedModel

    assert isinstance(model, ParsedModel)
    options = model.options
    assert options.start is not None
    unit = options.interval
    start = align(as_utc(options.start), unit)
    end = align(as_utc(request.end or inputs.now), unit)
    if window is not None:
        start, end = max(start, window[0]), min(end, window[1])
    ranges = missing_ranges(done, start, end, unit, options.batch_size)
    if options.lookback and ranges and done:
        from headgate.plan.intervals import step

        first_start, first_end = ranges[0]
        ranges[0] = (max(start, step(first_start, unit, -options.lookback)), first_end)
    return ranges


def _cut(done: list[Interval], start: datetime, end: datetime) -> list[Interval]:
    result: list[Interval] = []
    for interval in done:
        if interval.end <= start or interval.start >= end:
            result.append(interval)
            continue
        if interval.start < start:
            result.append(Interval(interval.start, start))
        if interval.end > end:
            result.append(Interval(end, interval.end))
    return result


REJECTS_SUFFIX = "__rejects"


def companion_of(name: str, nodes: Any) -> bool:
    """Whether ``name`` is published beside a node (a source's rejects) rather than being one."""
    return name.endswith(REJECTS_SUFFIX) and name[: -len(REJECTS_SUFFIX)] in nodes
