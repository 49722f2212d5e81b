"""Planning a run: for every model and source, what must happen to bring an environment up to date.

The plan is pure: it reads the project, the fingerprints, what the warehouse
holds and what the environment points at, and decides. The runtime carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from headgate.plan.intervals import align, as_utc, missing_ranges
from headgate.plan.naming import physical_table
from headgate.plan.versions import (
    Growth,
    Mode,
    Segment,
    Version,
    derived_name,
    digest,
    grow,
    version_name,
)
from headgate.project.loader import LoadedProject
from headgate.state.records import EnvModel, Interval, PhysicalRecord

if TYPE_CHECKING:
    from headgate.runtime.executor import RetryPolicy

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
    base_table: str = ""  # the name at this fingerprint, before any data version
    versioned: bool = False  # named by its data too (segments, or the versions it read)
    may_change: bool = False  # its name is settled at run time (it follows a source's load)
    growth: Growth | None = None  # incremental: the version it grows from and how
    version: Version | None = None  # incremental: the version this plan expects
    query: str | None = None  # a SQL model's normalized query, as planned
    references: list[str] = field(default_factory=list)  # the tables that query names
    after: list[str] = field(default_factory=list)  # steps (or a step's upstream) run first
    step: dict[str, Any] | None = None  # an external step: what it runs (project/steps.py)

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
    # the steps the run includes and how each of its tasks is tried (retries, timeout),
    # kept with the plan for whichever process carries a task out; None: not said
    includes: frozenset[str] | None = None
    policy: RetryPolicy | None = None

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
    nonce: str | None = None  # names what a full refresh or restatement recomputes
    ingest: bool = True  # False: sources load nothing; models read the tables they hold now


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
    steps = _covered_steps(project, selected)
    fed = {child: step.name for step in steps.values() for child in step.downstream}
    for name in project.dag.order:
        node = _plan_node(project, inputs, request, name, nodes, selected, name in restated)
        if name in fed and node.action != "excluded":
            _fed_by_step(project, node, fed[name], inputs)
        nodes[name] = node
    if steps:
        nodes = _with_steps(nodes, steps)
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
    base = physical_table(inputs.physical_schema, name, fingerprint)
    model = project.models.get(name)
    source = project.sources.get(name)
    materialized = model.options.materialized if model else "source"
    upstream = list(project.dag.upstream[name])
    pointer = inputs.env_models.get(name)
    node = PlannedNode(
        name=name,
        kind="model" if model else "source",
        materialized=materialized,
        fingerprint=fingerprint,
        physical_table=base,
        upstream=upstream,
        action="unchanged",
        reason="up to date",
        base_table=base,
    )
    if model is not None and model.language == "sql":
        node.query, node.references = model.normalized, list(model.references)
    upstream_names = [planned[u].physical_table for u in upstream]
    versioned_upstream = any(planned[u].versioned for u in upstream)
    if (
        model is not None
        and model.options.materialized == "incremental"
        and model.language == "sql"
    ):
        _plan_growth(node, model, inputs, request, pointer, restated, upstream_names)
    elif source is not None and source.external:
        node.versioned = True
        node.physical_table = _source_version(node, inputs, pointer)
    elif versioned_upstream:
        node.versioned = True
        node.physical_table = derived_name(base, upstream_names)
    else:
        node.physical_table = inputs.physical_of(name)
    node.exists = node.physical_table in inputs.existing
    published_here = pointer is not None and pointer.physical_table == node.physical_table
    if selected is not None and name not in selected:
        node.action, node.reason = "excluded", "not selected"
        return node
    node.missing_upstream = [
        u for u in node.upstream if planned[u].action == "excluded" and not planned[u].exists
    ]
    if source is not None and not request.ingest:
        return _held_source(node, published_here)
    loading = [u for u in upstream if planned[u].may_change]
    node.may_change = bool(loading) and node.versioned
    recompute = request.full_refresh or (restated and materialized != "view")
    if recompute and node.growth is None and node.exists and not (source and source.external):
        # rebuilt beside the table readers see, never over it
        node.physical_table = f"{node.physical_table}__f{digest(request.nonce)}"
        node.versioned, node.exists = True, node.physical_table in inputs.existing
    if request.full_refresh:
        node.action, node.reason, node.replace = "build", "full refresh", True
        return node
    if source is not None and source.external:
        node.action, node.reason = "incremental", f"read new data from the {source.kind} source"
        node.may_change = True
        return node
    if node.growth is not None and (not node.exists or restated):
        node.action = "incremental" if node.exists or node.growth.base_segments else "build"
        node.reason = _growth_reason(node, pointer)
        return node
    if not node.exists or (restated and materialized != "view"):
        node.action = "build"
        node.reason = (
            "restated upstream"
            if restated
            else ("new version" if pointer is not None else "new")
            if not versioned_upstream
            else "upstream data changed"
        )
        node.force = restated
        return node
    if loading:
        # an upstream source may bring new rows: decided when it has loaded
        node.action, node.reason = "refresh", f"follows {loading[0]} if it loads new data"
        return node
    audit = _audit_reason(node.physical_table, name, inputs)
    if audit:
        node.action, node.reason = "audit", audit
    elif not published_here:
        node.action, node.reason = "reuse", "already built; publish only"
    return node


def _held_source(node: PlannedNode, published_here: bool) -> PlannedNode:
    """A source a run without ingest leaves as it is: its table now, or none yet."""
    node.may_change = False
    if published_here:
        node.action, node.reason = "unchanged", "not loaded: the run does not ingest"
    elif node.exists:
        node.action, node.reason = "reuse", "not loaded: the run does not ingest; publish only"
    else:
        node.action, node.reason = "excluded", "never loaded, and the run does not ingest"
    return node


def _growth_reason(node: PlannedNode, pointer: EnvModel | None) -> str:
    assert node.growth is not None
    if node.restate:
        return "restated range"
    if node.growth.ranges:
        return f"{len(node.growth.ranges)} range(s) due"
    if node.growth.new_layer:
        return "merge new rows by key" if node.growth.base_segments else "new"
    return "new version" if pointer is not None else "new"


def _plan_growth(
    node: PlannedNode,
    model: Any,
    inputs: PlanInputs,
    request: PlanRequest,
    pointer: EnvModel | None,
    restated: bool,
    upstream_names: list[str],
) -> None:
    """An incremental model: the environment's version plus this run's new batches."""
    options = model.options
    keys = tuple(options.unique_key_columns)
    mode: Mode = "keys" if keys else "ranges"
    base_segments: list[Segment] = []
    base_record = None
    if pointer is not None and pointer.fingerprint == node.fingerprint and not request.full_refresh:
        base_record = inputs.registry.get(pointer.physical_table)
        if base_record is not None and base_record.segments:
            base_segments = [Segment.from_json(s) for s in base_record.segments]
    growth = Growth(mode, base_segments, keys=keys, time_column=options.time_column)
    if request.full_refresh:
        growth.nonce = request.nonce
    if options.time_column:
        done = [Interval(s, e) for s, e in Version(mode, base_segments).covered()]
        if restated and request.restate_start and request.restate_end:
            node.restate = (
                align(request.restate_start, options.interval),
                align(request.restate_end, options.interval),
            )
            growth.nonce = request.nonce
            # a restatement reprocesses exactly the asked range; catching up is a plain run's job
            growth.ranges = _due_ranges(
                model, _cut(done, *node.restate), request, inputs, node.restate
            )
        else:
            growth.ranges = _due_ranges(model, done, request, inputs)
    else:
        used = set(base_record.inputs) if base_record is not None else None
        growth.new_layer = used != set(upstream_names) or restated or request.full_refresh
        if restated:
            growth.nonce = request.nonce
    node.ranges = growth.ranges
    node.growth = growth
    node.versioned = True
    node.version = grow(node.base_table, growth, upstream_names).version
    node.physical_table = version_name(node.base_table, node.version)


def _source_version(node: PlannedNode, inputs: PlanInputs, pointer: EnvModel | None) -> str:
    """What a loaded source reads before this run's load: the environment's, else the latest."""
    if pointer is not None and pointer.fingerprint == node.fingerprint:
        return pointer.physical_table
    latest = latest_source_version(inputs.registry, node.name, node.fingerprint)
    return latest.name if latest is not None else node.base_table


def latest_source_version(
    registry: dict[str, PhysicalRecord], name: str, fingerprint: str
) -> PhysicalRecord | None:
    """The newest version of a loaded source at this fingerprint (the head of its load log)."""
    versions = [
        r
        for r in registry.values()
        if r.model == name and r.fingerprint == fingerprint and r.segments is not None
    ]
    return max(versions, key=lambda r: r.data_version, default=None)


def _audit_reason(physical: str, name: str, inputs: PlanInputs) -> str | None:
    """Why an already-built table must be checked again before it may be published, if it must."""
    record = inputs.registry.get(physical)
    wanted = inputs.check_hashes.get(name)
    status = record.audit_status if record else None
    if wanted is None:
        return "its checks were removed; re-audit" if status == "failed" else None
    if record is None or record.audit_hash != wanted:
        return "checks changed; audit without rebuilding"
    if status != "passed":
        return "failed its checks before; audit again"
    return None


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


# --- external steps (project/steps.py): nodes of the run, not of the data ----------------


def _covered_steps(project: LoadedProject, selected: set[str] | None) -> dict[str, Any]:
    """The steps a run covers: all of them, or those selected or feeding a selected node."""
    if selected is None:
        return dict(project.steps)
    covered: dict[str, Any] = {}
    grew = True
    while grew:
        grew = False
        for name, step in project.steps.items():
            if name in covered:
                continue
            if name in selected or any(d in selected or d in covered for d in step.downstream):
                covered[name], grew = step, True
    return covered


def _fed_by_step(project: LoadedProject, node: PlannedNode, step: str, inputs: PlanInputs) -> None:
    """A node downstream of a step waits for it; a file source reads the files it leaves,
    so its version (and what depends on it) is settled when it loads."""
    node.after.append(step)
    source = project.sources.get(node.name)
    if source is None or source.external or node.growth is not None:
        return
    node.versioned, node.may_change = True, True
    node.physical_table = derived_name(node.base_table, [d for _, _, d in source.files])
    node.exists = node.physical_table in inputs.existing
    if node.action in ("unchanged", "reuse", "audit"):
        node.action, node.reason = "refresh", f"reads the files {step} leaves"


def _with_steps(nodes: dict[str, PlannedNode], steps: dict[str, Any]) -> dict[str, PlannedNode]:
    """The plan's nodes with its steps among them, all in dependency order."""
    from headgate.project.dag import topological_order

    every = dict(nodes)
    for name, step in steps.items():
        every[name] = PlannedNode(
            name=name,
            kind="step",
            materialized="step",
            fingerprint=step.fingerprint,
            physical_table="",
            upstream=[],
            action="build",
            reason=step.config.what,
            after=[u for u in step.upstream if u in nodes or u in steps],
            step=step.spec(),
        )
    edges = {name: [*node.upstream, *node.after] for name, node in every.items()}
    return {name: every[name] for name in topological_order(edges)}
