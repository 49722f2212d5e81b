"""The plan a person reviews: impact per model, what will be built, which checks will run.

Rendered for a terminal by the CLI, and here as JSON for programs and Markdown for a
pull-request comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headgate.plan.impact import ModelImpact
from headgate.plan.planner import Plan


@dataclass
class Review:
    environment: str
    target_state: str
    impacts: list[ModelImpact]
    plan: Plan
    revision: str | None = None

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
            "models": [{**i.to_json(), "action": self.action_of(i.name)} for i in self.impacts],
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
        }

    def _rows(self, name: str) -> int | None:
        return next((i.estimated_rows for i in self.impacts if i.name == name), None)

    def to_markdown(self) -> str:
        lines = [
            f"### headgate plan for `{self.environment}`"
            + (f" at `{self.revision}`" if self.revision else "")
        ]
        if not self.impacts:
            lines.append("\nNo change: the project matches what this environment publishes.")
            return "\n".join(lines) + "\n"
        counts = _counts(self.impacts)
        lines.append(
            f"\n{counts.get('added', 0)} added, {counts.get('direct', 0)} modified, "
            f"{counts.get('indirect', 0)} affected downstream, {counts.get('removed', 0)} removed; "
            f"**{len(self.breaking)} breaking**; {len(self.plan.work)} to build.\n"
        )
        lines.append("| model | change | breaking | columns changed | rebuild |")
        lines.append("| --- | --- | --- | --- | --- |")
        for impact in self.impacts:
            breaking = "**yes**" if impact.breaking else "no"
            columns = ", ".join(f"`{c}`" for c in impact.columns_changed) or "-"
            lines.append(
                f"| `{impact.name}` | {impact.change} | {breaking} | {columns} | {'yes' if impact.rebuild else 'no'} |"
            )
        for impact in self.impacts:
            details = _details(impact)
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


def _details(impact: ModelImpact) -> list[str]:
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
        lines.append(f"Non-breaking: keeps `{impact.reuses}` (no rebuild)")
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
