"""Checks and steps on agents that reach the hub over HTTP only.

Every kind of check an audit runs (a monitor among them, which reads its metric's
history and keeps the chart it picks) gives on an agent without store access the
results a local run of the same project gives; a step between two models runs in DAG
order on agents, as it does locally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headgate import Project
from tests.server.hubs import running_hub
from tests.server.test_agent_http_store import UNREACHABLE, agent_in_thread, config
from tests.server.test_agents import finished, run_of, start_run, until
from tests.support import write_project

pytestmark = pytest.mark.services

ENV = "staging"
CHECKED = {
    "models/raw/customers.sql": "select i as id from range(10) t(i)",
    "models/marts/orders.sql": (
        "select i as id, i % 10 as customer_id, 40 + i % 7 as amount from range(100) t(i)"
    ),
    "models/marts/orders.yml": """
columns:
  id:
    checks: [not_null, unique]
  customer_id:
    checks:
      - relationships: {to: raw.customers, column: id}
  amount:
    checks:
      - monitor: {metric: mean, min_history: 4, window: 10}
checks:
  - row_count: {max_change: 5%}
    severity: warn
  - expression: {sql: "amount >= 0"}
""",
    "checks/no_big_orders.sql": "select * from marts.orders where amount > 50",
}
# the history each store holds before the run: twice min_history values, so the run
# picks the monitor's chart and keeps it
MEANS = [42.5, 43.1, 42.8, 43.4, 42.9, 43.0, 42.6, 43.2]


def seed_history(root: Path) -> None:
    with Project.load(root) as project:
        for mean in MEANS:
            project.state.record_metrics(None, "marts.orders", None, {"mean:amount": mean})
        project.state.record_metrics(None, "marts.orders", None, {"row_count": 90.0})


def results_of(root: Path, run_id: int) -> set[tuple[Any, ...]]:
    with Project.load(root) as project:
        found = project.state.check_results(run_id=run_id)
    return {(r.model, r.check_name, r.status, r.failing_rows, r.message) for r in found}


def test_every_kind_of_check_gives_on_an_agent_what_it_gives_locally(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    text = config(postgres_url, pg_prefix, postgres_url, pg_schema)
    hub_root = write_project(tmp_path / "hub", CHECKED, config=text)
    text = config(postgres_url, pg_prefix, UNREACHABLE, pg_schema)
    site = write_project(tmp_path / "site", CHECKED, config=text)
    local_config = (
        "name: agents_test\n"
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {pg_prefix}local_}}\n"
    )
    local = write_project(tmp_path / "local", CHECKED, config=local_config)
    seed_history(hub_root)
    seed_history(local)
    with running_hub(hub_root) as url:
        run_id = start_run(url, environment=ENV)
        with agent_in_thread(url, site, "checker"):
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
        run = run_of(url, run_id)
    errors = [(t["name"], t["error"]) for t in run["tasks"] if t["error"]]
    assert run["status"] == "success" and run["published"], errors
    with Project.load(local) as project:
        local_run = project.run(ENV)
    on_agent, locally = results_of(hub_root, run_id), results_of(local, local_run.run_id)
    assert on_agent == locally
    statuses = {name.removeprefix("marts.orders."): status for _, name, status, _, _ in on_agent}
    assert statuses == {
        "amount.monitor.mean": "pass",
        "customer_id.relationships": "pass",
        "expression": "pass",
        "id.not_null": "pass",
        "id.unique": "pass",
        "row_count": "warn",  # 100 rows after 90: more than 5%
        "no_big_orders": "pass",
    }
    with Project.load(hub_root) as project:
        kept = project.state.kept_chart("marts.orders", "mean:amount:both")
    assert kept is not None  # picked on the agent, kept at the hub


STEPPED = {
    "models/raw/numbers.sql": "select i as n from range(3) t(i)",
    "scripts/drop.py": (
        "from pathlib import Path\n"
        "Path('data').mkdir(exist_ok=True)\n"
        "Path('data/orders_2.csv').write_text('id,amount\\n2,7\\n3,8\\n')\n"
    ),
    "data/orders_1.csv": "id,amount\n1,5\n",
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders_*.csv, format: csv}\n",
    "steps/drop.yml": "shell: python scripts/drop.py\nupstream: [raw.numbers]\ndownstream: [shop.orders]\n",
    "models/marts/totals.sql": (
        "select count(*) as orders, sum(amount) as amount from shop.orders"
    ),
}


def test_a_step_between_two_models_runs_in_dag_order_on_agents(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    text = config(postgres_url, pg_prefix, postgres_url, pg_schema)
    hub_root = write_project(tmp_path / "hub", STEPPED, config=text)
    text = config(postgres_url, pg_prefix, UNREACHABLE, pg_schema)
    site = write_project(tmp_path / "site", STEPPED, config=text)
    with running_hub(hub_root) as url:
        run_id = start_run(url, environment=ENV)
        with agent_in_thread(url, site, "first"), agent_in_thread(url, site, "second"):
            until(lambda: finished(url, run_id), 120, f"run {run_id} to finish")
        run = run_of(url, run_id)
    assert run["status"] == "success" and run["published"], run
    tasks = {t["name"]: t for t in run["tasks"]}
    assert tasks["steps.drop"]["started_at"] >= tasks["raw.numbers"]["ended_at"]
    assert tasks["shop.orders"]["started_at"] >= tasks["steps.drop"]["ended_at"]
    assert tasks["marts.totals"]["started_at"] >= tasks["shop.orders"]["ended_at"]
    with Project.load(hub_root) as project:
        totals = project.query("select orders, amount from marts.totals", environment=ENV)
    assert totals.to_pylist() == [{"orders": 3, "amount": 20}]  # the step's file was read
