"""How each tool is run, and what its output says about the work it did.

Each measurement runs in a fresh copy of the tool's generated project, so no
cache, state or warehouse from an earlier measurement can help it. The
no-change measurements then run again in that same copy, which is exactly
what a user does when nothing has changed.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import duckdb
from _measure import Result, last_line, measure

HEADGATE = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "headgate"
NOT_BUILT = {"skipped", "unchanged", "cached", "reused", "fresh", "up_to_date", "noop"}
FAILED = {"failed", "error", "errored"}
SQLMESH_BATCH = re.compile(r"^\[\d+/\d+\]\s+(\S+)", re.MULTILINE)


def fresh_copy(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return target


def run_floor(project: Path, python: str) -> Result:
    return measure("floor", [python, str(project / "build.py")], project)


def table_counts(database: Path, names: list[str]) -> dict[str, int | str]:
    """Row counts of the named tables or views; a failure is kept as its message."""
    counts: dict[str, int | str] = {}
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.Error as exc:
        return dict.fromkeys(names, f"cannot open: {last_line(str(exc))}")
    with con:
        for name in names:
            try:
                counts[name] = int(con.sql(f"select count(*) from {name}").fetchall()[0][0])
            except duckdb.Error as exc:
                counts[name] = last_line(str(exc), 80)
    return counts


def _json_document(text: str) -> dict[str, object] | None:
    """The first JSON object printed on stdout (anything before it is ignored)."""
    start = text.find("{")
    while start != -1:
        try:
            doc, _end = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        return doc if isinstance(doc, dict) else None
    return None


def _headgate_models(result: Result) -> list[dict[str, object]] | None:
    doc = _json_document(result.stdout)
    if doc is None:
        result.error = result.error or f"no JSON on stdout: {last_line(result.stdout)}"
        return None
    models = doc.get("models")
    result.detail["run_status"] = doc.get("status")
    result.detail["run_id"] = doc.get("run_id")
    if not isinstance(models, list):
        result.error = result.error or "JSON has no 'models' list"
        return None
    return [m for m in models if isinstance(m, dict)]


def run_headgate(name: str, project: Path, n_models: int, expect_built: bool) -> Result:
    """`headgate run --json`; a full build must build all N, a no-change run none."""
    result = measure(name, [str(HEADGATE), "-p", str(project), "run", "--json"], project)
    models = _headgate_models(result)
    if models is None:
        return result
    statuses = Counter(str(m.get("status")) for m in models)
    built = sum(n for s, n in statuses.items() if s not in NOT_BUILT | FAILED)
    failed = sum(n for s, n in statuses.items() if s in FAILED)
    result.statuses = dict(statuses)
    result.detail.update(built=built, failed=failed)
    result.rows = {str(m.get("name")): m.get("rows") for m in models}
    if failed:
        result.error = result.error or f"{failed} models failed"
    elif expect_built and built != n_models:
        result.error = result.error or f"built {built} of {n_models} models"
    return result


def run_headgate_plan(name: str, project: Path, n_models: int, cold: bool) -> Result:
    """`headgate plan --json` of a project that was never built; cold drops the cache first."""
    if cold:
        shutil.rmtree(project / ".headgate" / "cache", ignore_errors=True)
    result = measure(name, [str(HEADGATE), "-p", str(project), "plan", "--json"], project)
    doc = _json_document(result.stdout)
    if doc is None:
        result.error = result.error or f"no JSON on stdout: {last_line(result.stdout)}"
        return result
    planned = doc.get("models")
    result.detail["planned"] = len(planned) if isinstance(planned, list) else None
    if result.detail["planned"] != n_models:
        result.error = result.error or f"planned {result.detail['planned']} of {n_models} models"
    return result


def run_dbt(name: str, dbt: Path, project: Path, threads: int, n_models: int) -> Result:
    """`dbt run` (dbt rebuilds every table on every run: its no-change run is a full build)."""
    command = [str(dbt), "run", "--project-dir", str(project), "--profiles-dir", str(project)]
    result = measure(name, [*command, "--threads", str(threads)], project)
    run_results = project / "target" / "run_results.json"
    if not run_results.exists():
        result.error = result.error or "no target/run_results.json"
        return result
    statuses = Counter(r["status"] for r in json.loads(run_results.read_text())["results"])
    result.statuses = dict(statuses)
    result.detail["built"] = statuses.get("success", 0)
    if statuses.get("success", 0) != n_models:
        result.error = result.error or f"built {statuses.get('success', 0)} of {n_models}"
    return result


def run_sqlmesh(
    name: str, sqlmesh: Path, project: Path, n_models: int, expect_built: bool
) -> Result:
    """`sqlmesh plan --auto-apply --no-prompts` against the prod environment."""
    command = [str(sqlmesh), "-p", str(project), "plan", "--auto-apply", "--no-prompts"]
    result = measure(name, command, project)
    result.detail["no_changes"] = "No changes to plan" in result.stdout
    result.detail["built"] = len(set(SQLMESH_BATCH.findall(result.stdout)))
    if expect_built and result.detail["built"] != n_models:
        result.error = result.error or f"built {result.detail['built']} of {n_models} models"
    return result
