"""Metrics kept from a table's first build, so a monitor added later judges at once.

``record_build_metrics`` is what a run calls after each build that passed its audit; the
tests call it directly after each ``headgate run``, then declare monitors and build a batch
with a shifted mean: the monitors judge it on the history of every earlier build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headgate.engines.duckdb import DuckDBEngine
from headgate.project.config import DuckDBEngineConfig
from headgate.runtime.monitoring import record_build_metrics
from headgate.state.store import StateStore
from tests.support import cli_json, write_project

FILES = {
    "sources/feed.yml": "type: files\ntables:\n  sales: {path: data/sales_*.csv}\n",
    "models/sales.sql": "select * from feed.sales",
}
MONITORS = """
checks:
  - monitor: {metric: row_count, rows: added, direction: drop, rules: [1]}
columns:
  amount:
    checks:
      - monitor: {metric: mean, rows: added, rules: [1]}
      - monitor: {metric: null_fraction, rows: added, rules: [1]}
"""


def write_batch(root: Path, day: int, rows: int, *, shift: float = 0.0) -> None:
    lines = ["id,amount"]
    for i in range(rows):
        amount = "" if i % 20 == 0 else f"{50 + (i * 7919 + day * 31) % 21 - 10 + shift:.2f}"
        lines.append(f"{day * 10_000 + i},{amount}")
    (root / "data").mkdir(exist_ok=True)
    (root / f"data/sales_{day:02d}.csv").write_text("\n".join(lines) + "\n")


def build(root: Path) -> dict[str, Any]:
    """``headgate run``, then what a run does after a build that passed: keep its metrics."""
    result = cli_json(root, "run")
    model = next(m for m in result["models"] if m["name"] == "sales")
    if model["status"] == "built":
        engine = DuckDBEngine.open(DuckDBEngineConfig(path=".headgate/warehouse.duckdb"), root)
        try:
            with StateStore.open(None, project_dir=root) as store:
                table = store.env_models("prod")["sales"].physical_table
                record_build_metrics(engine.session(), store, "sales", table, result["run_id"])
        finally:
            engine.close()
    return model


def test_a_monitor_declared_after_ten_builds_judges_the_next_at_once(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    for day in range(10):
        write_batch(root, day, 200 + (day * 37) % 23)
        assert build(root)["status"] == "built"
    with StateStore.open(None, project_dir=root) as store:
        means = store.metric_history("sales", "mean:amount")
        assert len(means) == 10  # one per build, kept although nothing monitored them

    (root / "models/sales.yml").write_text(MONITORS)
    write_batch(root, 10, 210, shift=6.0)
    shifted = build(root)
    assert shifted["status"] == "failed"
    checks = {c["name"]: c for c in shifted["checks"]}
    mean = checks["sales.amount.monitor.mean"]
    assert mean["status"] == "fail"
    assert mean["message"].startswith("mean:amount of the rows added = 56")
    assert "rule 1: one point beyond 3 sigma (above)" in mean["message"]
    assert checks["sales.monitor.row_count"]["status"] == "pass"
    assert checks["sales.amount.monitor.null_fraction"]["status"] == "pass"


def test_a_clean_growing_table_stays_in_control_and_a_collapse_is_stopped(tmp_path: Path) -> None:
    root = write_project(tmp_path, {**FILES, "models/sales.yml": MONITORS})
    for day in range(12):
        write_batch(root, day, 200 + (day * 37) % 23)
        model = build(root)
        assert model["status"] == "built", model
        assert {c["status"] for c in model["checks"]} == {"pass"}
    write_batch(root, 12, 40)  # 80% fewer rows than a usual batch
    collapsed = build(root)
    assert collapsed["status"] == "failed"
    volume = next(c for c in collapsed["checks"] if c["name"] == "sales.monitor.row_count")
    assert volume["message"].startswith("row_count of the rows added = 40;")
    assert "(below)" in volume["message"]
    with StateStore.open(None, project_dir=root) as store:
        # the refused build is not history: the next batch is judged against clean builds only
        assert len(store.metric_history("sales", "mean:amount")) == 12


def test_metrics_of_a_run_are_recorded_once(tmp_path: Path) -> None:
    root = write_project(tmp_path, {**FILES, "models/sales.yml": MONITORS})
    write_batch(root, 0, 100)
    build(root)  # the monitors recorded this run's metrics during the audit
    with StateStore.open(None, project_dir=root) as store:
        assert len(store.metric_history("sales", "mean:amount")) == 1


def test_monitor_options_are_validated() -> None:
    import pytest

    from headgate.checks.spc import control_chart, monitor_spec

    spec = monitor_spec({"metric": "row_count", "rows": "added", "direction": "drop", "rules": [1]})
    assert (spec.rows, spec.direction, spec.rules) == ("added", "drop", (1,))
    for bad, said in (
        ({"metric": "max", "column": "a", "rows": "added"}, "rows: added charts row_count"),
        ({"metric": "row_count", "rows": "new"}, "rows is all or added"),
        ({"metric": "row_count", "direction": "down"}, "direction is both, drop or growth"),
        ({"metric": "row_count", "rules": [5]}, "rules 1-4"),
    ):
        with pytest.raises(ValueError, match=said):
            monitor_spec(bad)
    stable = [100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0, 101.0, 99.0]
    assert control_chart([*stable, 130.0], direction="drop").verdict == "in control"
    assert control_chart([*stable, 70.0], direction="drop").verdict == "out of control"
    drift = [*stable, 101.5, 101.5, 101.5, 101.5, 101.5, 101.5, 101.5, 101.5]
    assert control_chart(drift).verdict == "out of control"  # rule 4
    assert control_chart(drift, rules=(1,)).verdict == "in control"
