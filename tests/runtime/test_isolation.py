"""An environment's published data changes only at its publish, for incremental models too.

A daily pipeline: events appended by time, customers merged by key, and tables reading
both. Time moves on with ``--end``; a dev environment runs ahead of prod; runs fail in
their models or their checks. Whatever happens, a reader of prod sees exactly what prod
last published, and another environment's runs never show there.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from headgate import Project
from headgate.plan.versions import FANOUT
from headgate.runtime.results import RunResult
from tests.support import write_project

FILES = {
    # 4 events a day from 2024-01-01; customer 7's name changes with the day it is seen
    "models/raw/events.sql": """
        select id, TIMESTAMP '2024-01-01' + (id * INTERVAL 6 HOUR) as ts, id % 10 as customer_id
        from range(400) t(id)
    """,
    "models/staging/events.sql": """
        /* headgate:
        materialized: incremental
        time_column: ts
        start: 2024-01-01
        interval: day
        */
        select id, ts, customer_id from raw.events
    """,
    "models/staging/customers.sql": """
        /* headgate:
        materialized: incremental
        unique_key: customer_id
        */
        select customer_id, 'seen ' || count(*) as name from staging.events group by 1
    """,
    "models/marts/summary.sql": """
        select count(*) as n_events, count(distinct customer_id) as n_customers
        from staging.events
    """,
    "models/marts/names.sql": "select customer_id, name from staging.customers",
}
MODELS = ["staging.events", "staging.customers", "marts.summary", "marts.names"]


def run(root: Path, **kwargs: Any) -> RunResult:
    with Project.load(root) as project:
        return project.run(**kwargs)


def day(n: int) -> datetime:
    return datetime(2024, 1, n)


def published(root: Path, environment: str = "prod") -> dict[str, list[tuple[Any, ...]]]:
    """Every model's rows as a reader of ``environment`` sees them, in a stable order."""
    found = {}
    with Project.load(root) as project:
        for model in MODELS:
            table = project.query(f"select * from {model}", environment=environment)
            found[model] = sorted(tuple(row.values()) for row in table.to_pylist())
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "project", FILES)
    assert run(root, end=day(4)).status == "success"  # three whole days: 12 events
    return root


def test_a_dev_run_ahead_of_prod_never_changes_what_prod_reads(root: Path) -> None:
    before = published(root)
    assert before["marts.summary"] == [(12, 10)]
    with Project.load(root) as project:
        project.env_create("dev")
    assert run(root, environment="dev", end=day(11)).status == "success"
    assert published(root, "dev")["marts.summary"] == [(40, 10)]
    assert published(root) == before  # prod's incremental tables were not appended to

    # prod catching up to the same day reaches dev's data: nothing is computed again
    again = run(root, end=day(11))
    statuses = {t.name: t.status for t in again.tasks}
    assert statuses["staging.events"] != "built"
    assert statuses["marts.summary"] != "built"
    assert published(root) == published(root, "dev")


def test_environments_with_different_ends_stay_apart_and_exact(root: Path) -> None:
    with Project.load(root) as project:
        project.env_create("dev")
    run(root, environment="dev", end=day(21))
    run(root, end=day(8))
    run(root, environment="dev", end=day(31))
    prod, dev = published(root), published(root, "dev")
    assert prod["marts.summary"] == [(28, 10)]
    assert dev["marts.summary"] == [(120, 10)]
    assert len(prod["staging.events"]) == len({row[0] for row in prod["staging.events"]}) == 28
    assert dict(prod["marts.names"])[7] == "seen 3"
    assert dict(dev["marts.names"])[7] == "seen 12"


def test_a_failing_downstream_model_after_new_ranges_leaves_prod_as_it_was(root: Path) -> None:
    before = published(root)
    (root / "models/marts/summary.sql").write_text(
        "select count(no_such_column) from staging.events"
    )
    result = run(root, end=day(11))
    assert result.status == "failed"
    assert "left exactly as it was" in (result.message or "")
    assert published(root) == before


def test_a_failing_error_check_after_new_ranges_leaves_prod_as_it_was(root: Path) -> None:
    before = published(root)
    (root / "models/marts/summary.yml").write_text(
        "columns:\n  n_events:\n    checks:\n      - range: {max: 20}\n"
    )
    result = run(root, end=day(11))
    assert result.status == "failed"
    assert published(root) == before
    # fixed, the next run publishes every day, each once
    (root / "models/marts/summary.yml").unlink()
    assert run(root, end=day(11)).status == "success"
    assert published(root)["marts.summary"] == [(40, 10)]


def test_a_restated_range_replaces_its_rows_only_in_the_publishing_environment(
    root: Path,
) -> None:
    with Project.load(root) as project:
        project.env_create("dev")
    before = published(root)
    restated = run(
        root,
        environment="dev",
        restate=["staging.events"],
        start=day(2),
        end=day(3),
    )
    assert restated.status == "success"
    assert published(root) == before
    assert published(root, "dev")["staging.events"] == before["staging.events"]


def test_many_daily_runs_stay_a_few_segments_and_exact(root: Path) -> None:
    """Compaction merges full levels: reads stay cheap and no row is lost or doubled.

    2 x FANOUT daily runs after the first: uncompacted they would leave more than
    2 x FANOUT segments; compacted, a merge happens twice, the second beside the first."""
    for n in range(5, 5 + 2 * FANOUT):
        assert run(root, end=day(n)).status == "success"
    last = 4 + 2 * FANOUT
    events = published(root)["staging.events"]
    assert len(events) == len({row[0] for row in events}) == 4 * (last - 1)
    with Project.load(root) as project:
        pointer = project.state.env_models("prod")["staging.events"].physical_table
        record = project.state.physical_tables()[pointer]
    assert record.segments is not None
    assert len(record.segments) < 2 * FANOUT
    assert max(s["level"] for s in record.segments) >= 1
