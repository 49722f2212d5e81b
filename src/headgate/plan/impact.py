"""The impact review: what a change does to an environment, model by model and column by column.

Each model is added, removed, directly modified (its own SQL or options changed) or
indirectly modified (something upstream changed). For a modified model we find the
columns whose definition changed; a downstream model is *breaking*-affected only if
it reads one of those columns (or a removed or retyped one) anywhere in its query.
An added column, or a change to columns nobody downstream reads, is non-breaking:
the downstream table's data cannot differ, so it is reused instead of rebuilt.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from headgate.plan import lineage
from headgate.plan.fingerprint import node_fingerprint
from headgate.plan.planner import companion_of
from headgate.project.loader import LoadedProject

if TYPE_CHECKING:
    from headgate.state.records import EnvModel, ModelVersion, PhysicalRecord


@dataclass
class ColumnChange:
    column: str
    change: str  # "added" | "removed" | "retyped" | "redefined"
    before: str | None = None
    after: str | None = None


@dataclass
class ModelImpact:
    name: str
    kind: str  # "model" | "source"
    change: str  # "added" | "removed" | "direct" | "indirect"
    breaking: bool
    rebuild: bool
    columns_changed: list[str] = field(default_factory=list)
    schema: list[ColumnChange] = field(default_factory=list)
    reads_changed: dict[str, list[str]] = field(default_factory=dict)  # upstream -> columns read
    sql_diff: str = ""
    reuses: str | None = None  # the existing table a non-breaking change keeps
    estimated_rows: int | None = None
    checks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "change": self.change,
            "breaking": self.breaking,
            "columns_changed": self.columns_changed,
            "rebuild": self.rebuild,
            "schema": [vars(c) for c in self.schema],
            "reads_changed": self.reads_changed,
            "reuses": self.reuses,
            "estimated_rows": self.estimated_rows,
            "checks": self.checks,
            "sql_diff": self.sql_diff,
        }


@dataclass
class ImpactInputs:
    fingerprints: dict[str, str]
    pointers: dict[str, EnvModel]
    versions: dict[str, ModelVersion]  # by fingerprint, old and new where known
    registry: dict[str, PhysicalRecord]
    checks: dict[str, list[str]] = field(default_factory=dict)  # model -> check names
    incoming: dict[str, list[list[str]]] = field(
        default_factory=dict
    )  # file source -> new files' columns


def analyse(project: LoadedProject, inputs: ImpactInputs) -> list[ModelImpact]:
    """Every model or source whose published version differs from the project, in DAG order."""
    schema_old = lineage.schema_of(_columns(inputs, new=False))
    schema_new = lineage.schema_of(_columns(inputs, new=True))
    impacts: dict[str, ModelImpact] = {}
    changed_columns: dict[str, set[str] | None] = {}  # per model: columns downstream must not read
    added: dict[str, set[str]] = {}  # per model: new columns (only `SELECT *` readers must rebuild)
    new_data: set[str] = set()  # models whose rows differ though no column was redefined (sources)
    for name in project.dag.order:
        pointer = inputs.pointers.get(name)
        fingerprint = inputs.fingerprints[name]
        if (
            pointer is not None
            and pointer.fingerprint == fingerprint
            and name not in inputs.incoming
        ):
            continue
        impact = _impact(
            project, inputs, name, pointer, schema_old, schema_new, changed_columns, added, new_data
        )
        impacts[name] = impact
    for name in sorted(set(inputs.pointers) - set(project.dag.upstream)):
        if companion_of(name, project.dag.upstream):
            continue
        impacts[name] = ModelImpact(name, "model", "removed", breaking=True, rebuild=False)
    return list(impacts.values())


def _impact(
    project: LoadedProject,
    inputs: ImpactInputs,
    name: str,
    pointer: EnvModel | None,
    schema_old: lineage.Schema,
    schema_new: lineage.Schema,
    changed_columns: dict[str, set[str] | None],
    added: dict[str, set[str]],
    new_data: set[str],
) -> ModelImpact:
    model = project.models.get(name)
    kind = "model" if model else "source"
    checks = inputs.checks.get(name, [])
    if pointer is None:
        changed_columns[name] = set()
        added[name] = set()
        return ModelImpact(name, kind, "added", breaking=False, rebuild=True, checks=checks)
    old = inputs.versions.get(pointer.fingerprint)
    new = inputs.versions.get(inputs.fingerprints[name])
    if name in inputs.incoming:  # new files of a file source: the columns they bring
        new = replace(old, columns=inputs.incoming[name]) if old else None
    record = inputs.registry.get(pointer.physical_table)
    rows = record.rows if record else None
    schema = _schema_diff(old, new)
    old_query = old.query if old else None
    new_query = model.normalized if model and model.language == "sql" else None
    direct = model is None or _own_definition_changed(project, inputs, name, old_query, new_query)
    if direct:
        before = lineage.definitions(old_query, schema_old) if old_query else None
        after = lineage.definitions(new_query, schema_new) if new_query else None
        redefined = lineage.changed_definitions(before, after)
        schema += [
            ColumnChange(c, "redefined") for c in sorted(redefined) if not _listed(schema, c)
        ]
        if before is not None and after is not None:
            schema += [
                ColumnChange(c, "added")
                for c in after
                if c not in before and not _listed(schema, c)
            ]
            schema += [
                ColumnChange(c, "removed")
                for c in before
                if c not in after and not _listed(schema, c)
            ]
        # when either definition cannot be read (SELECT * over a subquery, a Python model,
        # a source), every column may have changed: downstream readers are broken
        same_rows = bool(old_query and new_query) and lineage.rows_signature(
            old_query or ""
        ) == lineage.rows_signature(new_query or "")
        knowable = before is not None and after is not None and same_rows
        if model is None:
            # a source: new files bring new rows, not new definitions; only a removed or
            # retyped column breaks its readers, but every reader must be rebuilt
            knowable = old is not None and new is not None
            new_data.add(name)
        elif any(upstream in new_data for upstream in project.dag.upstream[name]):
            new_data.add(name)  # new rows upstream flow through whatever else changed here
        changed_columns[name] = _breaking_columns(schema) if knowable else None
        added[name] = {c.column.lower() for c in schema if c.change == "added"}
        if after is not None and before is not None:
            added[name] |= set(after) - set(before)
        return ModelImpact(
            name,
            kind,
            "direct",
            breaking=bool(changed_columns[name]) or changed_columns[name] is None,
            rebuild=True,
            columns_changed=sorted(c.column for c in schema),
            schema=schema,
            sql_diff=_diff(old_query, new_query, name),
            estimated_rows=rows,
            checks=checks,
        )
    # what this model reads, judged on the published shapes: `SELECT *` then still names
    # a column that was removed upstream
    reads = lineage.columns_read(new_query or "", schema_old)
    passed_through = lineage.star_sources(new_query or "")
    hits: dict[str, list[str]] = {}
    widened: set[str] = set()  # columns that reach this model through a `SELECT *`
    for upstream in project.dag.upstream[name]:
        changed = changed_columns.get(upstream, set())
        read = reads.get(upstream, lineage.ALL)
        if changed is None or (read is lineage.ALL and changed):
            hits[upstream] = sorted(changed or ["*"])
        elif read is not None and changed and read & changed:
            hits[upstream] = sorted(read & changed)
        if read is lineage.ALL or upstream in passed_through:
            widened |= added.get(upstream, set())
    breaking = bool(hits)
    # a non-breaking indirect change leaves this model's data, and so its columns, as they
    # were; only a `SELECT *` reader gains the upstream's new columns and must be rebuilt
    changed_columns[name] = _downstream_visible(new_query, schema_new, hits) if breaking else set()
    added[name] = widened
    fed_new_data = any(upstream in new_data for upstream in project.dag.upstream[name])
    if fed_new_data:
        new_data.add(name)
    rebuild = breaking or bool(widened) or fed_new_data
    return ModelImpact(
        name,
        kind,
        "indirect",
        breaking=breaking,
        rebuild=rebuild,
        columns_changed=sorted(changed_columns[name] or []),
        schema=schema,
        reads_changed=hits,
        reuses=None if rebuild else pointer.physical_table,
        estimated_rows=rows,
        checks=checks,
    )


def _own_definition_changed(
    project: LoadedProject,
    inputs: ImpactInputs,
    name: str,
    old_query: str | None,
    new_query: str | None,
) -> bool:
    """Whether the model's own file or options changed, rather than only its upstream.

    Its fingerprint recomputed over the versions the environment publishes upstream
    equals its published fingerprint exactly when its own definition is the same; this
    holds for a Python model too, whose query is not recorded.
    """
    published = {u: inputs.pointers.get(u) for u in project.dag.upstream[name]}
    if all(pointer is not None for pointer in published.values()):
        upstream = {u: pointer.fingerprint for u, pointer in published.items() if pointer}
        return node_fingerprint(project, name, upstream) != inputs.pointers[name].fingerprint
    return (
        old_query is None or old_query != new_query or not _upstream_changed(project, inputs, name)
    )


def _upstream_changed(project: LoadedProject, inputs: ImpactInputs, name: str) -> bool:
    for upstream in project.dag.upstream[name]:
        pointer = inputs.pointers.get(upstream)
        if pointer is None or pointer.fingerprint != inputs.fingerprints[upstream]:
            return True
    return False


def _columns(inputs: ImpactInputs, *, new: bool) -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for name, fingerprint in inputs.fingerprints.items():
        pointer = inputs.pointers.get(name)
        wanted = fingerprint if new else (pointer.fingerprint if pointer else None)
        version = inputs.versions.get(wanted) if wanted else None
        if version is None and pointer is not None:
            version = inputs.versions.get(pointer.fingerprint)  # best known shape
        if version is not None:
            found[name] = version.columns
    return found


def _schema_diff(old: ModelVersion | None, new: ModelVersion | None) -> list[ColumnChange]:
    if old is None or new is None:
        return []
    before = {c: t for c, t in old.columns}
    after = {c: t for c, t in new.columns}
    changes = [ColumnChange(c, "added", None, after[c]) for c in after if c not in before]
    changes += [ColumnChange(c, "removed", before[c], None) for c in before if c not in after]
    changes += [
        ColumnChange(c, "retyped", before[c], after[c])
        for c in before
        if c in after and before[c] != after[c]
    ]
    return changes


def _listed(changes: list[ColumnChange], column: str) -> bool:
    return any(c.column == column for c in changes)


def _breaking_columns(changes: list[ColumnChange]) -> set[str]:
    return {c.column.lower() for c in changes if c.change != "added"}


def _downstream_visible(
    query: str | None, schema: lineage.Schema, hits: dict[str, list[str]]
) -> set[str] | None:
    """This model's output columns that derive from the changed upstream columns it reads."""
    definitions = lineage.definitions(query, schema) if query else None
    if definitions is None:
        return None
    changed = {c for cols in hits.values() for c in cols}
    if "*" in changed:
        return set(definitions)
    return {
        column for column, text in definitions.items() if any(_mentions(text, c) for c in changed)
    }


def _mentions(text: str, column: str) -> bool:
    lowered = text.lower()
    return f".{column}" in lowered or f'"{column}"' in lowered or lowered == column


def _diff(old: str | None, new: str | None, name: str) -> str:
    if old is None or new is None or old == new:
        return ""
    before = lineage.pretty(old).splitlines()
    after = lineage.pretty(new).splitlines()
    return "\n".join(
        difflib.unified_diff(before, after, f"{name} (published)", f"{name} (project)", lineterm="")
    )
