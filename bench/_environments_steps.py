"""One pass of the environments scenario on one copy of the generated headgate project.

The pass builds prod, creates `dev` from it, edits one mid-layer model, reviews the
change against prod, builds it in dev, deploys dev to prod and rolls prod back. Each
command is a CLI subprocess, timed by `_measure.measure` (which first waits for the
machine to go quiet). Between the commands, while no headgate process is running, the
pass checks what the commands claim: `env create` copies no table, a deploy makes prod
serve dev's data, a rollback brings the old data back.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import _projects as projects
import duckdb
from _measure import Result, last_line, measure, peer_env
from _tools import HEADGATE

STEPS = ("run_full", "env_create", "plan", "run_dev", "deploy", "rollback")
DEV = "dev"
PROD = "prod"
PHYSICAL_SCHEMA = "headgate_physical"
WAREHOUSE = Path(".headgate") / "warehouse.duckdb"

Value = tuple[int, float]  # (rows, sum of v) of the edited model, as an environment serves it


@dataclass
class Change:
    """The one-model edit: the model, the text replaced in its SQL, and its downstream."""

    model: projects.Model
    before: str
    after: str
    downstream: list[str]

    @property
    def path(self) -> Path:
        return Path("models") / self.model.schema / f"{self.model.table}.sql"

    @property
    def affected(self) -> int:
        """Models whose data the edit changes: the model itself and all it feeds."""
        return 1 + len(self.downstream)

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model.name,
            "layer": self.model.layer,
            "edit": {"before": self.before, "after": self.after},
            "downstream": len(self.downstream),
        }


@dataclass
class Check:
    ok: bool
    text: str

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "text": self.text}


@dataclass
class Pass:
    """One pass: each step's measurement and the checks made between them."""

    project: Path
    dag: projects.Dag
    change: Change
    results: dict[str, Result] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    values: dict[str, Value | str] = field(default_factory=dict)
    counts: dict[str, int | str] = field(default_factory=dict)


def downstream_of(dag: projects.Dag, name: str) -> list[str]:
    """Every model that reads `name`, directly or through other models."""
    readers: dict[str, list[str]] = {}
    for model in dag.models:
        for upstream in model.upstreams:
            readers.setdefault(upstream.name, []).append(model.name)
    found: set[str] = set()
    stack = [name]
    while stack:
        for reader in readers.get(stack.pop(), []):
            if reader not in found:
                found.add(reader)
                stack.append(reader)
    return sorted(found)


def choose_change(dag: projects.Dag) -> Change:
    """A deeper `filter` model (`v * 1.01 + c`) as near the middle layer as there is one,
    the one feeding the most models there; the edit moves its constant c by one, so its
    v and the v of everything downstream change, while the columns stay the same."""
    middle = (dag.layers + 1) // 2
    candidates = [m for m in dag.models if m.layer >= 2 and m.kind == "filter"]
    if not candidates:
        raise SystemExit("the generated project has no deeper filter model to edit; add models")
    downstream = {m.name: downstream_of(dag, m.name) for m in candidates}
    model = min(
        candidates, key=lambda m: (abs(m.layer - middle), -len(downstream[m.name]), m.index)
    )
    c = model.params["c"]
    return Change(model, f"v * 1.01 + {c} as v", f"v * 1.01 + {c + 1} as v", downstream[model.name])


def apply_change(project: Path, change: Change) -> None:
    path = project / change.path
    text = path.read_text()
    if text.count(change.before) != 1:
        raise RuntimeError(f"{path}: expected one '{change.before}' to edit")
    path.write_text(text.replace(change.before, change.after))


def physical_tables(project: Path) -> int | str:
    """Tables in the physical schema, read with DuckDB read-only while headgate is not running."""
    try:
        with duckdb.connect(str(project / WAREHOUSE), read_only=True) as con:
            row = con.execute(
                "select count(*) from information_schema.tables where table_schema = ?",
                [PHYSICAL_SCHEMA],
            ).fetchone()
    except duckdb.Error as exc:
        return f"cannot count: {last_line(str(exc))}"
    return int(row[0]) if row else 0


def query_value(project: Path, model: str, environment: str) -> Value | str:
    """(rows, sum of v) of `model` as `environment` serves it, through `headgate query`."""
    sql = f"select count(*) as n, sum(v) as v from {model}"
    command = [str(HEADGATE), "-p", str(project), "query", sql, "--env", environment, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=peer_env(), check=False)
    if done.returncode != 0:
        return f"query failed: {last_line(done.stderr or done.stdout)}"
    try:
        row = json.loads(done.stdout)["rows"][0]
        return int(row["n"]), float(row["v"] or 0.0)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"unreadable query output ({exc}): {last_line(done.stdout)}"


def same(a: Value | str | None, b: Value | str | None) -> bool:
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return False
    return a[0] == b[0] and math.isclose(a[1], b[1], rel_tol=1e-9, abs_tol=1e-9)


def _headgate(p: Pass, name: str, *args: str) -> tuple[Result, dict[str, object] | None]:
    """Time one headgate command; its --json document, or None with the result in error."""
    result = measure(name, [str(HEADGATE), "-p", str(p.project), *args], p.project)
    if not result.ok:
        return result, None
    try:
        doc = json.loads(result.stdout)
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        result.error = f"no JSON on stdout: {last_line(result.stdout)}"
        return result, None
    return result, doc


def _statuses(result: Result, doc: dict[str, object]) -> int:
    """Record each model's status from a `run --json`; return how many were built."""
    models = doc.get("models")
    rows = [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []
    result.statuses = dict(Counter(str(m.get("status")) for m in rows))
    built = result.statuses.get("built", 0)
    result.detail["built"] = built
    return built


def _expect(p: Pass, result: Result, key: str, ok: bool, text: str) -> None:
    p.checks[key] = Check(ok, text)
    result.detail["check"] = text if ok else f"FAILED: {text}"


def step_run_full(p: Pass) -> Result:
    result, doc = _headgate(p, "run_full", "run", "--json")
    if doc is not None:
        n, built = len(p.dag.models), _statuses(result, doc)
        if built != n:
            result.error = f"built {built} of {n} models"
    return result


def step_env_create(p: Pass) -> Result:
    p.counts["before_env_create"] = physical_tables(p.project)
    result, doc = _headgate(p, "env_create", "env", "create", DEV, "--from", PROD, "--json")
    if doc is None:
        return result
    p.counts["after_env_create"] = physical_tables(p.project)
    before, after = p.counts["before_env_create"], p.counts["after_env_create"]
    n, views = len(p.dag.models), doc.get("models")
    result.detail["models"] = views
    text = f"{views} views over {n} models; physical tables {before} before, {after} after"
    ok = views == n and isinstance(before, int) and before == after
    _expect(p, result, "env_create_copies_nothing", ok, text)
    return result


def step_plan(p: Pass) -> Result:
    p.values["prod_before"] = query_value(p.project, p.change.model.name, PROD)
    apply_change(p.project, p.change)
    result, doc = _headgate(p, "plan", "plan", "--env", PROD, "--json")
    if doc is None:
        return result
    models = doc.get("models")
    impacts = [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []
    build = doc.get("build")
    result.detail.update(
        reported=len(impacts),
        breaking=sum(1 for m in impacts if m.get("breaking")),
        direct=sum(1 for m in impacts if m.get("change") == "direct"),
        columns_changed=sum(len(m.get("columns_changed") or []) for m in impacts),
        to_build=len(build) if isinstance(build, list) else None,
    )
    expected = p.change.affected
    text = (
        f"{len(impacts)} models reported, {result.detail['breaking']} breaking, "
        f"{result.detail['to_build']} to build (expected {expected})"
    )
    _expect(p, result, "plan_reports_the_change", len(impacts) == expected, text)
    return result


def step_run_dev(p: Pass) -> Result:
    result, doc = _headgate(p, "run_dev", "run", "--env", DEV, "--json")
    if doc is None:
        return result
    built, expected = _statuses(result, doc), p.change.affected
    p.values["dev"] = query_value(p.project, p.change.model.name, DEV)
    moved = not same(p.values["dev"], p.values.get("prod_before"))
    text = f"built {built} (expected {expected}); the edited model's data changed in dev: {moved}"
    _expect(p, result, "run_dev_builds_only_the_change", built == expected and moved, text)
    return result


def step_deploy(p: Pass) -> Result:
    result, doc = _headgate(p, "deploy", "deploy", "--from", DEV, "--to", PROD, "--json")
    if doc is None:
        return result
    models = doc.get("models")
    promoted = len(models) if isinstance(models, list) else None
    result.detail["models"] = promoted
    p.values["prod_after_deploy"] = query_value(p.project, p.change.model.name, PROD)
    served = same(p.values["prod_after_deploy"], p.values.get("dev"))
    text = f"{promoted} pointers promoted; prod serves dev's value: {served}"
    _expect(p, result, "deploy_serves_dev_value", served, text)
    return result


def step_rollback(p: Pass) -> Result:
    result, doc = _headgate(p, "rollback", "rollback", PROD, "--json")
    if doc is None:
        return result
    result.detail["models"] = doc.get("models")
    result.detail["rolled_back_to"] = doc.get("rolled_back_to")
    p.values["prod_after_rollback"] = query_value(p.project, p.change.model.name, PROD)
    back = same(p.values["prod_after_rollback"], p.values.get("prod_before"))
    text = f"{doc.get('models')} views repointed; prod serves the old value again: {back}"
    _expect(p, result, "rollback_serves_old_value", back, text)
    return result


STEP_FUNCTIONS: dict[str, Callable[[Pass], Result]] = {
    "run_full": step_run_full,
    "env_create": step_env_create,
    "plan": step_plan,
    "run_dev": step_run_dev,
    "deploy": step_deploy,
    "rollback": step_rollback,
}


def run_pass(
    project: Path, dag: projects.Dag, change: Change, announce: Callable[[str], None]
) -> Pass:
    """Every step in order; after a failed step the rest cannot mean anything and are skipped."""
    p = Pass(project, dag, change)
    for name in STEPS:
        result = STEP_FUNCTIONS[name](p)
        p.results[name] = result
        seconds = "" if result.seconds is None else f"{result.seconds:.2f} s"
        announce(f"  {name}: {seconds} {result.error or result.detail.get('check', '')}")
        if not result.ok:
            for rest in STEPS[STEPS.index(name) + 1 :]:
                p.results[rest] = Result(name=rest, error=f"skipped: {name} failed")
            break
    return p
