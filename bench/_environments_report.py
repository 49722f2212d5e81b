"""The environments benchmark's verdict: seconds per step at two data sizes, and the targets.

Creating an environment, reviewing a change and deploying it only read and write
pointers, views and metadata, so their cost should follow the number of models and
not the amount of data: each must stay under 2 seconds, and take at most 1.2 times
as long on ten times the rows.
"""

from __future__ import annotations

from _environments_steps import STEPS, Check
from _measure import Result
from _report import Target
from rich.console import Console
from rich.table import Table

LABELS = {
    "run_full": "run (initial full build, context)",
    "env_create": "env create dev --from prod",
    "plan": "plan --env prod (impact review)",
    "run_dev": "run --env dev (context)",
    "deploy": "deploy --from dev --to prod",
    "rollback": "rollback prod",
}
TARGETED = ("env_create", "plan", "deploy")
SECONDS_GOAL = 2.0
RATIO_GOAL = 1.2

Outcome = dict[str, Result]  # per data size: step -> the fastest successful measurement


def _seconds(result: Result | None) -> float | None:
    return result.seconds if result is not None and result.ok else None


def ratio(small: Result | None, large: Result | None) -> float | None:
    a, b = _seconds(large), _seconds(small)
    return None if a is None or b is None or b == 0 else a / b


def targets(outcomes: dict[int, Outcome], n_models: int) -> list[Target]:
    """Per targeted step: under 2 s at each size, and the larger size within 1.2x the smaller."""
    small, large = sorted(outcomes)
    found: list[Target] = []
    for step in TARGETED:
        for rows in (small, large):
            result = outcomes[rows].get(step)
            found.append(
                Target(
                    f"{step} at {n_models:,} models, {rows:,} rows (s)",
                    _seconds(result),
                    f"< {SECONDS_GOAL:g} s",
                    lambda v: v < SECONDS_GOAL,
                    noisy=result is not None and result.noisy,
                )
            )
        pair = (outcomes[small].get(step), outcomes[large].get(step))
        found.append(
            Target(
                f"{step}: {large:,} rows / {small:,} rows",
                ratio(*pair),
                f"<= {RATIO_GOAL:g}",
                lambda v: v <= RATIO_GOAL,
                noisy=any(r is not None and r.noisy for r in pair),
            )
        )
    return found


def target_json(target: Target) -> dict[str, object]:
    value = None if target.value is None else round(target.value, 3)
    return {"target": target.name, "value": value, "goal": target.goal, "verdict": target.verdict}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _note(result: Result | None) -> str:
    if result is None:
        return ""
    if result.error:
        return f"[red]error[/red] {result.error}"
    detail, parts = result.detail, []
    if result.statuses:
        parts.append(", ".join(f"{n} {s}" for s, n in sorted(result.statuses.items())))
    if "check" in detail:
        parts.append(str(detail["check"]))
    if result.noisy:
        parts.append(f"[yellow]noisy: others used {result.other_cpu:.1f} CPU-s[/yellow]")
    return "; ".join(parts)


def _notes(small: Result | None, large: Result | None, small_rows: int) -> str:
    """The larger size's note; the smaller size's error, if it had one, first."""
    note = _note(large)
    if small is not None and small.error and (large is None or small.error != large.error):
        note = f"{small_rows:,} rows: {_note(small)}; {note}"
    return note


def print_steps(outcomes: dict[int, Outcome], n_models: int, console: Console) -> None:
    small, large = sorted(outcomes)
    table = Table(title=f"headgate environments: {n_models:,} models at two data sizes")
    table.add_column("step")
    for column in (f"{small:,} rows s", f"{large:,} rows s", "large / small"):
        table.add_column(column, justify="right")
    table.add_column(f"note ({large:,} rows)", overflow="fold")
    for step in STEPS:
        a, b = outcomes[small].get(step), outcomes[large].get(step)
        table.add_row(
            LABELS[step],
            _fmt(_seconds(a)),
            _fmt(_seconds(b)),
            _fmt(ratio(a, b)),
            _notes(a, b, small),
        )
    console.print(table)


def print_targets(found: list[Target], console: Console) -> None:
    table = Table(title="targets")
    for column in ("target", "value", "goal", "verdict"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for target in found:
        colour = {"met": "green", "MISSED": "red"}.get(target.verdict, "yellow")
        verdict = f"[{colour}]{target.verdict}[/{colour}]"
        table.add_row(target.name, _fmt(target.value, 3), target.goal, verdict)
    console.print(table)


def print_checks(checks: dict[int, dict[str, list[Check]]], console: Console) -> None:
    """Each correctness check per data size: passed only if it passed in every pass."""
    table = Table(title="checks (every pass)")
    table.add_column("rows", justify="right")
    table.add_column("check")
    table.add_column("verdict", justify="right")
    table.add_column("last pass", overflow="fold")
    for rows, by_name in sorted(checks.items()):
        for name, found in by_name.items():
            ok = all(c.ok for c in found)
            verdict = "[green]ok[/green]" if ok else "[red]FAILED[/red]"
            table.add_row(f"{rows:,}", name.replace("_", " "), verdict, found[-1].text)
    console.print(table)
