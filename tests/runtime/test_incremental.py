"""Incremental models: time ranges processed once, gaps filled, ranges restated, merges by key."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from headgate import Project
from headgate.runtime.results import RunResult
from tests.support import write_project

EVENTS = """
    select id, TIMESTAMP '2024-01-01' + (id * INTERVAL 6 HOUR) as ts, id % 3 as kind
    from range(40) t(id)
"""
FILES = {
    "models/raw/events.sql": EVENTS,  # 40 events, 4 per day, 2024-01-01 .. 2024-01-10
    "models/inc/events.sql": """
        /* headgate:
        materialized: incremental
        time_column: ts
        start: 2024-01-01
        interval: day
        */
        select id, ts, kind from raw.events
    """,
    "models/inc/per_day.sql": "select date_trunc('day', ts) as day, count(*) as n from inc.events group by 1",
}


def run(root: Path, **kwargs: object) -> RunResult:
    with Project.load(root) as project:
        return project.run(**kwargs)  # type: ignore[arg-type]


def count(root: Path, sql: str) -> object:
    with Project.load(root) as project:
        return next(iter(project.query(sql).to_pylist()[0].values()))


def task(result: RunResult, name: str) -> dict[str, object]:
    found = next(t for t in result.tasks if t.name == name)
    return {"status": found.status, "rows": found.rows, **found.detail}


def test_ranges_up_to_end_then_the_missed_gap_is_filled(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    first = run(root, end=datetime(2024, 1, 4))
    assert task(first, "inc.events")["rows"] == 12  # three whole days
    # a run that was missed: the next one covers everything since, with no silent gap
    second = run(root, end=datetime(2024, 1, 11))
    ranges = task(second, "inc.events")["ranges"]
    assert [(r["start"][:10], r["end"][:10]) for r in ranges] == [("2024-01-04", "2024-01-11")]  # type: ignore[index]
    assert count(root, "select count(*) from inc.events") == 40
    assert count(root, "select count(distinct id) from inc.events") == 40
    # downstream tables follow the new data
    assert task(second, "inc.per_day")["status"] == "built"
    assert count(root, "select sum(n) from inc.per_day") == 40


def test_nothing_due_means_nothing_built(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    run(root, end=datetime(2024, 1, 11))
    again = run(root, end=datetime(2024, 1, 11))
    assert again.status == "nothing_to_do"


def test_restating_a_range_reprocesses_it_and_downstream(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    run(root, end=datetime(2024, 1, 11))
    result = run(
        root,
        selection="inc.events",
        restate=["inc.events"],
        start=datetime(2024, 1, 2),
        end=datetime(2024, 1, 4),
    )
    ranges = task(result, "inc.events")["ranges"]
    # exactly the two restated days were replaced, in place, with no duplicates
    assert [(r["start"][:10], r["end"][:10], r["deleted"], r["inserted"]) for r in ranges] == [  # type: ignore[index]
        ("2024-01-02", "2024-01-04", 8, 8)
    ]
    assert task(result, "inc.per_day")["status"] == "built"  # what depends on it is refreshed
    assert count(root, "select count(*) from inc.events") == 40
    assert count(root, "select count(distinct id) from inc.events") == 40


def test_full_refresh_rebuilds_from_start(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    run(root, end=datetime(2024, 1, 11))
    result = run(root, selection="inc.events", full_refresh=True, end=datetime(2024, 1, 6))
    assert task(result, "inc.events")["rows"] == 20
    assert count(root, "select count(*) from inc.events") == 20


def test_merge_by_unique_key_replaces_rows(tmp_path: Path) -> None:
    files = {
        "models/raw/customers.sql": "select 1 as id, 'old' as name union all select 2, 'two'",
        "models/dim/customers.sql": """
            /* headgate:
            materialized: incremental
            unique_key: id
            */
            select id, name from raw.customers
        """,
    }
    root = write_project(tmp_path, files)
    run(root)
    (root / "models/raw/customers.sql").write_text(
        "select 1 as id, 'new' as name union all select 3, 'three'"
    )
    result = run(root)
    assert task(result, "dim.customers")["status"] == "built"
    with Project.load(root) as project:
        rows = project.query("select id, name from dim.customers order by id").to_pylist()
    # fingerprint changed upstream, so this is a new table: the merge starts afresh
    assert [r["id"] for r in rows] == [1, 3]
    assert rows[0]["name"] == "new"
