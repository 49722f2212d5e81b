"""The benchmark's verdict: a table of measurements, the ratios the targets are about.

Per-model overhead is (tool seconds - floor seconds) / N: what a tool adds on
top of the bare CREATE TABLE ... AS statements, per model. The targets compare
headgate with its peers and with the floor on the same project and machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from _measure import Result
from rich.console import Console
from rich.table import Table

BUILDS = {"floor", "headgate_full", "dbt_full", "dbt_nochange", "sqlmesh_first"}
LABELS = {
    "floor": "floor: CTAS in one DuckDB connection",
    "headgate_full": "headgate run (full build)",
    "headgate_nochange": "headgate run (no change)",
    "dbt_full": "dbt run (full build)",
    "dbt_nochange": "dbt run (no change)",
    "sqlmesh_first": "sqlmesh plan (first, builds all)",
    "sqlmesh_nochange": "sqlmesh plan (no change)",
    "plan_cold": "headgate plan only, cold cache",
    "plan_warm": "headgate plan only, warm cache",
}


@dataclass
class Target:
    name: str
    value: float | None
    goal: str
    check: Callable[[float], bool]
    extra_ok: bool = True
    floor_alone: float | None = None
    noisy: bool = False

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        verdict = "met" if self.check(self.value) and self.extra_ok else "MISSED"
        return f"{verdict} (noisy)" if self.noisy else verdict

    def to_json(self) -> dict[str, object]:
        value = None if self.value is None else round(self.value, 3)
        bound = None if self.floor_alone is None else round(self.floor_alone, 3)
        return {
            "target": self.name,
            "value": value,
            "goal": self.goal,
            "verdict": self.verdict,
            "floor_alone": bound,
        }


def _seconds(results: dict[str, Result], name: str) -> float | None:
    result = results.get(name)
    return result.seconds if result is not None and result.ok else None


def _ratio(results: dict[str, Result], top: str, bottom: str) -> float | None:
    a, b = _seconds(results, top), _seconds(results, bottom)
    return None if a is None or b is None or b == 0 else a / b


def targets(results: dict[str, Result], n_plan: int) -> list[Target]:
    """The targets; one fed by a noisy measurement says so in its verdict."""
    found = _targets(results, n_plan)
    for target, inputs in zip(found, TARGET_INPUTS, strict=True):
        target.noisy = any(results[name].noisy for name in inputs if name in results)
    return found


TARGET_INPUTS = [
    ("headgate_full", "dbt_full", "floor"),
    ("headgate_full", "sqlmesh_first", "floor"),
    ("headgate_full", "floor"),
    ("headgate_nochange",),
    ("plan_cold",),
    ("plan_warm",),
]


def _targets(results: dict[str, Result], n_plan: int) -> list[Target]:
    nochange = results.get("headgate_nochange")
    nothing_built = nochange is not None and nochange.detail.get("built", 0) == 0
    return [
        Target("headgate full / dbt full", _ratio(results, "headgate_full", "dbt_full"), "<= 0.25", lambda v: v <= 0.25, floor_alone=_ratio(results, "floor", "dbt_full")),
        Target("headgate full / SQLMesh first plan", _ratio(results, "headgate_full", "sqlmesh_first"), "<= 0.25", lambda v: v <= 0.25, floor_alone=_ratio(results, "floor", "sqlmesh_first")),
        Target("headgate full / floor", _ratio(results, "headgate_full", "floor"), "<= 1.3", lambda v: v <= 1.3, floor_alone=_ratio(results, "floor", "floor")),
        Target("headgate no-change run (s, nothing rebuilt)", _seconds(results, "headgate_nochange"), "< 2 s", lambda v: v < 2, nothing_built),
        Target(f"plan of {n_plan:,} models, cold (s)", _seconds(results, "plan_cold"), "< 10 s", lambda v: v < 10),
        Target(f"plan of {n_plan:,} models, warm (s)", _seconds(results, "plan_warm"), "< 2 s", lambda v: v < 2),
    ]  # fmt: skip


def per_model_ms(
    results: dict[str, Result], name: str, n: int
) -> tuple[float | None, float | None]:
    """Milliseconds per model, and (for builds) milliseconds per model over the floor."""
    seconds, floor = _seconds(results, name), _seconds(results, "floor")
    if seconds is None:
        return None, None
    over = (seconds - floor) / n * 1000 if floor is not None and name in BUILDS else None
    return seconds / n * 1000, over


def _note(result: Result) -> str:
    if result.error:
        return f"[red]error[/red] {result.error}"
    detail = result.detail
    parts = []
    if result.statuses:
        parts.append(", ".join(f"{n} {s}" for s, n in sorted(result.statuses.items())))
    if detail.get("no_changes"):
        parts.append("no changes to plan")
    if "check" in detail:
        parts.append(str(detail["check"]))
    if result.noisy:
        parts.append(f"[yellow]noisy: other processes used {result.other_cpu:.1f} CPU-s[/yellow]")
    return "; ".join(parts)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(
    results: dict[str, Result],
    sizes: dict[str, int],
    n_plan: int,
    console: Console,
    *,
    engine: str = "DuckDB",
) -> None:
    title = "headgate vs dbt-duckdb vs SQLMesh: one layered project"
    if engine != "DuckDB":
        title = f"headgate vs dbt on {engine}: one layered project"
    table = Table(title=title)
    for column in ("measurement", "models", "wall s", "peak MB", "ms/model", "over floor ms/model"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    table.add_column("note", overflow="fold")
    for name, result in results.items():
        n = sizes[name]
        per, over = per_model_ms(results, name, n)
        label = LABELS.get(name, name).replace("DuckDB", engine)
        table.add_row(
            label,
            str(n),
            _fmt(result.seconds),
            _fmt(result.peak_mb, 0),
            _fmt(per, 1),
            _fmt(over, 1),
            _note(result),
        )
    console.print(table)
    verdicts = Table(title="targets")
    for column in ("target", "value", "goal", "verdict", "the floor's own value"):
        verdicts.add_column(column, justify="left" if column == "target" else "right")
    for target in targets(results, n_plan):
        colour = {"met": "green", "MISSED": "red"}.get(target.verdict, "yellow")
        verdict = f"[{colour}]{target.verdict}[/{colour}]"
        bound = _fmt(target.floor_alone, 3)
        verdicts.add_row(target.name, _fmt(target.value, 3), target.goal, verdict, bound)
    console.print(verdicts)
