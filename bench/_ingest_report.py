"""The ingest benchmark's verdict: rows per second of each loader, and the two ratios.

Both targets compare rows per second on the same table, machine and run, so
each ratio is the slower loader's seconds over the faster one's: headgate / floor
is floor seconds / headgate seconds.
"""

from __future__ import annotations

from _measure import Result
from _report import Target
from rich.console import Console
from rich.table import Table

LABELS = {
    "floor": "floor: connectorx read + CREATE TABLE AS",
    "headgate": "headgate run (postgres source, full load)",
    "dlt": "dlt sql_table -> duckdb (its fastest backend)",
    "dlt_default": "dlt sql_table -> duckdb (out of the box: sqlalchemy backend)",
}
TARGET_INPUTS = [("headgate", "floor"), ("headgate", "dlt", "floor"), ("headgate", "dlt_default", "floor")]  # fmt: skip


def _seconds(results: dict[str, Result], name: str) -> float | None:
    result = results.get(name)
    return result.seconds if result is not None and result.ok else None


def speed_ratio(results: dict[str, Result], fast: str, slow: str) -> float | None:
    """Rows/s of `fast` over rows/s of `slow` (the same rows): slow seconds / fast seconds."""
    a, b = _seconds(results, fast), _seconds(results, slow)
    return None if a is None or b is None or a == 0 else b / a


def targets(results: dict[str, Result]) -> list[Target]:
    found = [
        Target("headgate / floor (rows/s)", speed_ratio(results, "headgate", "floor"), ">= 0.8", lambda v: v >= 0.8, floor_alone=1.0 if _seconds(results, "floor") else None),
        Target("headgate / dlt, fastest backend (rows/s)", speed_ratio(results, "headgate", "dlt"), ">= 3", lambda v: v >= 3, floor_alone=speed_ratio(results, "floor", "dlt")),
        Target("headgate / dlt, out of the box (rows/s)", speed_ratio(results, "headgate", "dlt_default"), ">= 3", lambda v: v >= 3, floor_alone=speed_ratio(results, "floor", "dlt_default")),
    ]  # fmt: skip
    for target, inputs in zip(found, TARGET_INPUTS, strict=True):
        target.noisy = any(results[name].noisy for name in inputs if name in results)
    return found


def stages(result: Result) -> str:
    """Where the time went inside the command, as the command itself reports it."""
    d = result.detail
    if "read_s" in d:
        return f"read {d['read_s']:.2f} + write {d['write_s']:.2f}"
    if "extract_s" in d:
        return f"extract {d['extract_s']:.2f} + normalize {d['normalize_s']:.2f} + load {d['load_s']:.2f}"  # fmt: skip
    if d.get("task_s") is not None:
        return f"source task {d['task_s']:.2f} of run {d.get('run_s') or 0:.2f}"
    return ""


def _note(result: Result) -> str:
    if result.error:
        return f"[red]error[/red] {result.error}"
    parts = []
    loaded = result.detail.get("loaded")
    if isinstance(loaded, dict) and "rows" in loaded:
        parts.append(f"{loaded['rows']:,} rows checked, {loaded.get('file_mb')} MB file")
    if len(result.tries) > 1:
        tries = ", ".join("-" if t is None else f"{t:.1f}" for t in result.tries)
        parts.append(f"tries {tries} s")
    if result.noisy:
        parts.append(f"[yellow]noisy: other processes used {result.other_cpu:.1f} CPU-s[/yellow]")
    return "; ".join(parts)


def _fmt(value: object, digits: int = 2) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:,.{digits}f}"


def print_report(results: dict[str, Result], rows: int, console: Console) -> None:
    table = Table(title=f"loading {rows:,} rows from PostgreSQL into DuckDB")
    columns = ("loader", "wall s", "rows/s", "peak MB", "CPU s", "postgres CPU s", "inside")
    for column in columns:
        table.add_column(column, justify="left" if column in ("loader", "inside") else "right")
    table.add_column("note", overflow="fold")
    for name, result in results.items():
        per_second = rows / result.seconds if result.ok and result.seconds else None
        table.add_row(
            LABELS.get(name, name),
            _fmt(result.seconds),
            _fmt(per_second, 0),
            _fmt(result.peak_mb, 0),
            _fmt(result.detail.get("cpu_s"), 1),
            _fmt(result.detail.get("postgres_cpu_s"), 1),
            stages(result),
            _note(result),
        )
    console.print(table)
    verdicts = Table(title="targets")
    for column in ("target", "value", "goal", "verdict", "the floor's own value"):
        verdicts.add_column(column, justify="left" if column == "target" else "right")
    for target in targets(results):
        colour = {"met": "green", "MISSED": "red"}.get(target.verdict, "yellow")
        verdict = f"[{colour}]{target.verdict}[/{colour}]"
        verdicts.add_row(
            target.name,
            _fmt(target.value, 3),
            target.goal,
            verdict,
            _fmt(target.floor_alone, 3),
        )
    console.print(verdicts)


def to_json(result: Result, rows: int) -> dict[str, object]:
    per_second = rows / result.seconds if result.ok and result.seconds else None
    return result.to_json() | {"rows_per_s": None if per_second is None else round(per_second)}
