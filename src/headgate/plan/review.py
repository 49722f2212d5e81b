"""The plan a person reviews: impact per model, what will be built, which checks will run.

Rendered for a terminal by the CLI, and here as JSON for programs and Markdown for a
pull-request comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headgate.plan.impact import ModelImpact
from headgate.plan.planner import Plan, PlannedNode

BUILD_ACTIONS = ("build", "refresh", "incremental")


@dataclass
class Review:
    environment: str
    target_state: str
    impacts: list[ModelImpact]
    plan: Plan
    revision: str | None = None
    built_in: dict[str, str] = field(default_factory=dict)  # reused table -> who built it
    warnings: list[str] = field(default_factory=list)  # what the run will refuse or ignore

    def __post_init__(self) -> None:
        """Each row's ``rebuild`` is what the run will do, so rows and summary agree: a
        table already built (in any environment) is reused, not rebuilt."""
        for impact in self.impacts:
            node = self.plan.nodes.get(impact.name)
            if node is None:
                continue  # removed from the project: nothing to build
            impact.rebuild = node.action in BUILD_ACTIONS
            if node.action == "reuse":
                impact.reuses = node.physical_table

    @property
    def to_build(self) -> list[PlannedNode]:
        return [n for n in self.plan.work if n.action in BUILD_ACTIONS]

    def rebuild_text(self, impact: ModelImpact) -> str:
        """The rebuild column: yes, or why not (reused, kept, re-audited, not selected)."""
        action = self.action_of(impact.name)
        if impact.rebuild:
            return "yes"
        if action == "reuse":
            where = self.built_in.get(impact.reuses or "")
            return f"reuse ({where})" if where else "reuse (already built)"
        if action == "audit":
            return "no, checks run again"
        if action == "excluded":
            return "no (not selected)"
        if impact.reuses:
            return f"no (keeps {impact.reuses.rsplit('.', 1)[-1]})"
        return "no"

    def summary(self) -> str:
        """``3 to build, 6 reused (already built), ...``: the counts the rows add up to."""
        counts = {"audit": 0, "reuse": 0}
        for node in self.plan.nodes.values():
            if node.action in counts:
                counts[node.action] += 1
        parts = [f"{len(self.to_build)} to build"]
        if counts["reuse"]:
            parts.append(f"{counts['reuse']} reused (already built)")
        if counts["audit"]:
            parts.append(f"{counts['audit']} to audit again")
        return ", ".join(parts)

    def unlisted_work(self) -> list[PlannedNode]:
        """Work on models the change does not touch (due time ranges, audits): built all the same."""
        listed = {i.name for i in self.impacts}
        return [n for n in self.plan.work if n.name not in listed]

    @property
    def breaking(self) -> list[ModelImpact]:
        return [
            i for i in self.impacts if i.breaking and i.change in ("direct", "indirect", "removed")
        ]

    def action_of(self, name: str) -> str:
        node = self.plan.nodes.get(name)
        return node.action if node else "remove"

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "revision": self.revision,
            "target_state": self.target_state,
            "breaking": bool(self.breaking),
            "models": [
                {
                    **i.to_json(),
                    "action": self.action_of(i.name),
                    "built_in": self._built_in(i),
                    "rebuild_text": self.rebuild_text(i),
                }
                for i in self.impacts
            ],
            "also_built": [
                {"name": n.name, "action": n.action, "reason": n.reason}
                for n in self.unlisted_work()
            ],
            "summary": self.summary(),
            "build": [
                {
                    "name": n.name,
                    "action": n.action,
                    "reason": n.reason,
                    "estimated_rows": self._rows(n.name),
                }
                for n in self.plan.work
            ],
            "checks": sorted({c for i in self.impacts for c in i.checks}),
            "warnings": self.warnings,
        }

    def _built_in(self, impact: ModelImpact) -> str | None:
        if self.action_of(impact.name) != "reuse":
            return None
        return self.built_in.get(impact.reuses or "")

    def _rows(self, name: str) -> int | None:
        return next((i.estimated_rows for i in self.impacts if i.name == name), None)

    def to_markdown(self) -> str:
        lines = [
            f"### headgate plan for `{self.environment}`"
            + (f" at `{self.revision}`" if self.revision else "")
        ]
        if not self.impacts:
            lines.append("\nNo change: the project matches what this environment publishes.")
            lines.extend(f"\n> **Warning:** {w}" for w in self.warnings)
            return "\n".join(lines) + "\n"
        counts = _counts(self.impacts)
        lines.append(
            f"\n{counts.get('added', 0)} added, {counts.get('direct', 0)} modified, "
            f"{counts.get('indirect', 0)} affected downstream, {counts.get('removed', 0)} removed; "
            f"**{len(self.breaking)} breaking**; {self.summary()}.\n"
        )
        lines.extend(f"> **Warning:** {w}\n" for w in self.warnings)
        lines.append("| model | change | breaking | columns changed | rebuild |")
        lines.append("| --- | --- | --- | --- | --- |")
        for impact in self.impacts:
            breaking = "**yes**" if impact.breaking else "no"
            columns = ", ".join(f"`{c}`" for c in impact.columns_changed) or "-"
            lines.append(
                f"| `{impact.name}` | {impact.change} | {breaking} | {columns} | {self.rebuild_text(impact)} |"
            )
        for node in self.unlisted_work():
            lines.append(f"\nAlso in this run: `{node.name}` ({node.action}: {node.reason})")
        for impact in self.impacts:
            details = _details(impact, reused=self.action_of(impact.name) == "reuse")
            if details:
                lines.append(f"\n<details><summary><code>{impact.name}</code></summary>\n")
                lines.extend(details)
                lines.append("\n</details>")
        checks = sorted({c for i in self.impacts for c in i.checks})
        if checks:
            lines.append(f"\nChecks that will run: {', '.join(f'`{c}`' for c in checks)}")
        return "\n".join(lines) + "\n"


def _counts(impacts: list[ModelImpact]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for impact in impacts:
        counts[impact.change] = counts.get(impact.change, 0) + 1
    return counts


def _details(impact: ModelImpact, *, reused: bool) -> list[str]:
    lines: list[str] = []
    if impact.schema:
        lines.append(
            "Schema: "
            + "; ".join(_column_text(c.column, c.change, c.before, c.after) for c in impact.schema)
        )
    if impact.reads_changed:
        reads = "; ".join(f"`{u}`: {', '.join(cols)}" for u, cols in impact.reads_changed.items())
        lines.append(f"Reads changed columns of {reads}")
    if impact.reuses:
        lines.append(
            f"Reuses `{impact.reuses}`, already built (no rebuild)"
            if reused
            else f"Non-breaking: keeps `{impact.reuses}` (no rebuild)"
        )
    if impact.sql_diff:
        lines.append("\n```diff\n" + impact.sql_diff + "\n```")
    return lines


def _column_text(column: str, change: str, before: str | None, after: str | None) -> str:
    if change == "retyped":
        return f"`{column}` {before} → {after}"
    if change == "added":
        return f"`{column}` added ({after})"
    if change == "removed":
        return f"`{column}` removed"
    return f"`{column}` redefined"
