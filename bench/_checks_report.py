"""The checks benchmark's verdict: the measurements, the ratios the targets are about,
and whether the tools agree on which checks fail.

Every ratio compares the work each tool was timed on inside its own process
(``work s``): start-up and imports are in the process wall time, shown beside it but
not in the ratios, since they do not grow with the table.
"""

from __future__ import annotations

from typing import Any

from _measure import Result
from _report import Target
from rich.console import Console
from rich.table import Table

LABELS = {
    "floor": "floor: one bare aggregate scan (count, min, max of every column)",
    "exact_floor": "exact-work floor: the floor + bare GROUP BY per uniqueness check + regexes",
    "scan": "headgate fused scan SQL alone (no follow-ups, no samples)",
    "fused": "headgate run_checks, 40 checks fused (samples included)",
    "per_check": "headgate one query per check (40 x run_checks)",
    "gx_load": "Great Expectations: load Parquet into pandas",
    "gx_validate": "Great Expectations: validate",
    "gx": "Great Expectations: total (load + validate)",
    "soda": "Soda Core: scan.execute()",
    "profile": "headgate profile_table",
}
FAILED = "failed"
PASSED = "passed"


def work(results: dict[str, Result], name: str, key: str = "work_s") -> float | None:
    """Seconds of the measured work inside the process, when the measurement succeeded."""
    result = results.get(name)
    if result is None or not result.ok:
        return None
    value = result.detail.get(key)
    return float(value) if isinstance(value, int | float) else None


def ratio(results: dict[str, Result], top: str, bottom: str) -> float | None:
    a, b = work(results, top), work(results, bottom)
    return None if a is None or b is None or b == 0 else a / b


TARGET_INPUTS = {
    "headgate fused / floor": ("fused", "floor"),
    "headgate fused / exact-work floor": ("fused", "exact_floor"),
    "GE total / headgate fused": ("gx", "fused"),
    "Soda / headgate fused": ("soda", "fused"),
    "profile / floor": ("profile", "floor"),
}


def targets(results: dict[str, Result], engine: str) -> list[Target]:
    """The targets; those without their measurements say n/a, a noisy one says so."""
    found = [
        Target("headgate fused / floor", ratio(results, "fused", "floor"), "<= 1.5", lambda v: v <= 1.5),
        Target("headgate fused / exact-work floor", ratio(results, "fused", "exact_floor"), "<= 1.5", lambda v: v <= 1.5),
        Target("GE total / headgate fused", ratio(results, "gx", "fused"), ">= 30", lambda v: v >= 30),
        Target("Soda / headgate fused", ratio(results, "soda", "fused"), ">= 5", lambda v: v >= 5),
        Target("profile / floor", ratio(results, "profile", "floor"), "<= 2", lambda v: v <= 2),
    ]  # fmt: skip
    if engine != "duckdb":
        found = [t for t in found if "GE" not in t.name and "Soda" not in t.name]
    for target in found:
        names = TARGET_INPUTS[target.name]
        target.noisy = any(results[n].noisy for n in names if n in results)
    return found


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _note(result: Result) -> str:
    if result.error:
        return f"[red]error[/red] {result.error}"
    parts = [str(result.detail["summary"])] if result.detail.get("summary") else []
    if result.noisy:
        parts.append(f"[yellow]noisy: other processes used {result.other_cpu:.1f} CPU-s[/yellow]")
    return "; ".join(parts)


def _rows(results: dict[str, Result]) -> list[tuple[str, str, float | None, Result | None]]:
    """(label key, measurement name, work seconds, result shown with wall and memory)."""
    rows: list[tuple[str, str, float | None, Result | None]] = []
    for name, result in results.items():
        if name == "gx":
            rows.append(("gx_load", name, work(results, name, "load_s"), None))
            rows.append(("gx_validate", name, work(results, name, "validate_s"), None))
        rows.append((name, name, work(results, name), result))
    return rows


def print_measurements(results: dict[str, Result], title: str, console: Console) -> None:
    table = Table(title=title)
    columns = ("measurement", "work s", "x floor", "x fused", "process wall s", "peak MB")
    for column in columns:
        table.add_column(column, justify="left" if column == "measurement" else "right")
    table.add_column("note", overflow="fold")
    floor, fused = work(results, "floor"), work(results, "fused")
    for key, _name, seconds, result in _rows(results):
        vs_floor = seconds / floor if seconds is not None and floor else None
        vs_fused = seconds / fused if seconds is not None and fused else None
        table.add_row(
            LABELS.get(key, key),
            _fmt(seconds, 3),
            _fmt(vs_floor),
            _fmt(vs_fused),
            _fmt(result.seconds if result else None),
            _fmt(result.peak_mb if result else None, 0),
            _note(result) if result else "",
        )
    console.print(table)


def print_targets(found: list[Target], console: Console) -> None:
    table = Table(title="targets")
    for column in ("target", "value", "goal", "verdict"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for target in found:
        colour = {"met": "green", "MISSED": "red"}.get(target.verdict.split()[0], "yellow")
        verdict = f"[{colour}]{target.verdict}[/{colour}]"
        table.add_row(target.name, _fmt(target.value, 2), target.goal, verdict)
    console.print(table)


# ---------------------------------------------------------------- agreement

HEADGATE_VERDICTS = {"pass": PASSED, "fail": FAILED, "warn": FAILED}
SODA_VERDICTS = {"pass": PASSED, "fail": FAILED, "warn": FAILED}


def _headgate(payload: dict[str, Any] | None) -> dict[str, str]:
    checks = (payload or {}).get("checks", [])
    return {c["name"]: HEADGATE_VERDICTS.get(c["status"], "error") for c in checks}


def _gx(payload: dict[str, Any] | None, missing: dict[str, str]) -> dict[str, str]:
    if payload is None:
        return {}
    found = dict.fromkeys(missing, "no equivalent")
    for entry in payload.get("expectations", []):
        success = entry.get("success")
        found[entry["name"]] = "error" if success is None else (PASSED if success else FAILED)
    return found


def _soda(payload: dict[str, Any] | None) -> dict[str, str]:
    checks = (payload or {}).get("checks", [])
    return {c["name"]: SODA_VERDICTS.get(str(c.get("outcome")), "error") for c in checks}


def agreement(
    names: list[str], payloads: dict[str, dict[str, Any]], gx_missing: dict[str, str]
) -> dict[str, Any]:
    """Per check, each tool's verdict; per tool, how many agree with headgate's fused run."""
    tools = {
        "headgate": _headgate(payloads.get("fused")),
        "one per check": _headgate(payloads.get("per_check")),
        "GE": _gx(payloads.get("gx"), gx_missing),
        "Soda": _soda(payloads.get("soda")),
    }
    ran = {tool: verdicts for tool, verdicts in tools.items() if verdicts}
    rows = [{"check": n, **{t: v.get(n, "missing") for t, v in ran.items()}} for n in names]
    summary: dict[str, Any] = {}
    reference = ran.get("headgate", {})
    for tool, verdicts in ran.items():
        if tool == "headgate":
            continue
        compared = [n for n in names if verdicts.get(n) in (PASSED, FAILED)]
        differ = [n for n in compared if verdicts[n] != reference.get(n)]
        summary[tool] = {
            "compared": len(compared),
            "agree": len(compared) - len(differ),
            "disagree": differ,
            "not_compared": {n: verdicts.get(n, "missing") for n in names if n not in compared},
        }
    return {"rows": rows, "summary": summary}


def print_agreement(found: dict[str, Any], console: Console) -> None:
    rows, summary = found["rows"], found["summary"]
    if not rows or len(rows[0]) <= 2:
        return
    tools = [k for k in rows[0] if k != "check"]
    shown = [r for r in rows if len({r[t] for t in tools}) > 1 or FAILED in r.values()]
    table = Table(title="verdicts: checks that failed somewhere, or where the tools disagree")
    for column in ("check", *tools):
        table.add_column(column)
    for row in shown:
        cells = [_cell(row[t], row.get("headgate")) for t in tools]
        table.add_row(row["check"], *cells)
    console.print(table)
    quiet = len(rows) - len(shown)
    console.print(f"the other {quiet} checks pass in every tool that ran them")
    for tool, facts in summary.items():
        differ = ", ".join(facts["disagree"]) or "none"
        left = ", ".join(f"{n} ({v})" for n, v in facts["not_compared"].items()) or "none"
        console.print(
            f"{tool}: agrees with headgate on {facts['agree']} of {facts['compared']} checks; "
            f"disagrees on: {differ}; not compared: {left}"
        )


def _cell(verdict: str, reference: str | None) -> str:
    if verdict == FAILED:
        text = "[red]failed[/red]"
    elif verdict == PASSED:
        text = "passed"
    else:
        text = f"[yellow]{verdict}[/yellow]"
    if verdict in (PASSED, FAILED) and reference in (PASSED, FAILED) and verdict != reference:
        text += " [bold red](differs)[/bold red]"
    return text
