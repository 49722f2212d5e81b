"""Check results, profiles and metrics in the metadata store, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect

from headgate.state import CheckResultRecord, StateStore
from headgate.state.database import Database
from headgate.state.migrate import MIGRATIONS_DIR


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}", project_dir=tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("pg_schema")
        opened = StateStore.open(url, project_dir=tmp_path, schema=schema)
    yield opened
    opened.close()


def result(model: str, name: str, status: str, **fields: object) -> CheckResultRecord:
    return CheckResultRecord(
        model=model,
        check_name=name,
        check_type=str(fields.pop("check_type", "not_null")),
        status=status,
        message=f"{name} {status}",
        **fields,  # type: ignore[arg-type]
    )


def test_check_results_newest_first_filtered_by_run_model_and_status(store: StateStore) -> None:
    store.record_check_results(
        1,
        [
            result("staging.orders", "staging.orders.id.not_null", "pass", column="id"),
            result("staging.orders", "staging.orders.id.unique", "fail", failing_rows=6),
        ],
    )
    store.record_check_results(
        2,
        [
            result(
                "staging.orders",
                "staging.orders.id.unique",
                "pass",
                failing_rows=0,
                total_rows=1000,
                sql='SELECT COUNT("id") FROM t',
                physical_table="hp.orders__abc",
                severity="error",
            ),
            result("marts.revenue", "marts.revenue.row_count", "warn", severity="warn"),
        ],
    )
    store.record_check_results(None, [])
    everything = store.check_results()
    assert [(r.run_id, r.check_name) for r in everything] == [
        (2, "marts.revenue.row_count"),
        (2, "staging.orders.id.unique"),
        (1, "staging.orders.id.unique"),
        (1, "staging.orders.id.not_null"),
    ]
    assert [r.check_name for r in store.check_results(run_id=1)] == [
        "staging.orders.id.unique",
        "staging.orders.id.not_null",
    ]
    assert [r.run_id for r in store.check_results(model="staging.orders", status="pass")] == [2, 1]
    assert len(store.check_results(limit=1)) == 1
    latest = store.latest_check_result("staging.orders.id.unique")
    assert latest is not None
    assert (latest.run_id, latest.status, latest.total_rows) == (2, "pass", 1000)
    assert latest.sql == 'SELECT COUNT("id") FROM t'
    assert latest.physical_table == "hp.orders__abc"
    assert latest.created_at is not None and latest.created_at.tzinfo is not None
    assert latest.id is not None
    assert store.latest_check_result("no.such.check") is None


def test_the_latest_result_of_each_check_on_each_table_in_one_read(store: StateStore) -> None:
    a1, a2, b1 = "hp.a__1", "hp.a__2", "hp.b__1"
    store.record_check_results(1, [result("a", "a.x", "fail", physical_table=a1)])
    store.record_check_results(2, [result("a", "a.x", "pass", physical_table=a1)])
    store.record_check_results(3, [result("a", "a.x", "warn", physical_table=a2)])
    store.record_check_results(4, [result("a", "a.y", "error", physical_table=a1)])
    store.record_check_results(5, [result("b", "b.x", "fail", physical_table=b1)])

    latest = store.latest_results_on({a1: "a", b1: "b"})
    assert [(r.check_name, r.physical_table, r.status) for r in latest] == [
        ("b.x", b1, "fail"),
        ("a.y", a1, "error"),
        ("a.x", a1, "pass"),  # its later pass, not its earlier failure
    ]
    assert [r.status for r in store.latest_results_on({a2: "a"})] == ["warn"]
    assert store.latest_results_on({"hp.none": "a"}) == []


def test_samples_are_kept_as_json_whatever_their_values(store: StateStore) -> None:
    sample = [
        {
            "at": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
            "day": date(2024, 5, 1),
            "amount": Decimal("12.50"),
            "ratio": math.nan,
            "blob": b"\x00\x01",
            "tags": ("a", "b"),
            "n": 3,
            "missing": None,
        }
    ]
    store.record_check_results(5, [result("m", "m.x.range", "fail", sample=sample)])
    (stored,) = store.check_results(run_id=5)
    assert stored.sample == [
        {
            "at": "2024-05-01T12:30:00+00:00",
            "day": "2024-05-01",
            "amount": "12.50",
            "ratio": "nan",
            "blob": "AAE=",
            "tags": ["a", "b"],
            "n": 3,
            "missing": None,
        }
    ]


def test_latest_profile_of_a_model(store: StateStore) -> None:
    assert store.latest_profile("staging.orders") is None
    first = store.save_profile("staging.orders", "hp.orders__1", {"columns": {"id": {}}}, 10)
    second = store.save_profile(
        "staging.orders",
        "hp.orders__2",
        {"columns": {"id": {"nulls": 0}}, "when": date(2024, 1, 2)},
        12,
    )
    store.save_profile("marts.revenue", "hp.revenue__1", {"columns": {}}, 3)
    assert second > first
    latest = store.latest_profile("staging.orders")
    assert latest is not None
    assert latest["columns"] == {"id": {"nulls": 0}}
    assert latest["when"] == "2024-01-02"
    assert (latest["id"], latest["physical_table"], latest["rows"]) == (second, "hp.orders__2", 12)
    assert isinstance(latest["created_at"], datetime) and latest["created_at"].tzinfo is not None


def test_metric_history_oldest_first_and_previous_row_count(store: StateStore) -> None:
    assert store.previous_row_count("staging.orders") is None
    for run_id, rows in ((1, 100.0), (2, 110.0), (3, 95.0)):
        store.record_metrics(
            run_id, "staging.orders", f"hp.orders__{run_id}", {"row_count": rows, "null_ratio": 0.1}
        )
    store.record_metrics(None, "staging.orders", None, {"row_count": 97.0, "bad": math.inf})
    store.record_metrics(4, "marts.revenue", "hp.revenue", {"row_count": 5.0})
    history = store.metric_history("staging.orders", "row_count")
    assert [(run, value) for run, _, value in history] == [
        (1, 100.0),
        (2, 110.0),
        (3, 95.0),
        (0, 97.0),
    ]
    assert all(at.tzinfo is not None for _, at, _ in history)
    assert [
        value for _, _, value in store.metric_history("staging.orders", "row_count", limit=2)
    ] == [
        95.0,
        97.0,
    ]
    assert store.metric_history("staging.orders", "bad") == []
    assert store.previous_row_count("staging.orders") == 97.0
    assert store.previous_row_count("marts.revenue") == 5.0


def test_a_store_at_the_first_revision_is_upgraded_keeping_its_data(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from headgate.state import runs

    url = f"sqlite:///{tmp_path / 'state.db'}"
    db = Database(url, None)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["schema"] = None
    with db.write("migrating") as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    run_id = runs.start_run(
        db,
        environment="prod",
        command="run",
        selection=None,
        user="alice",
        host=None,
        pid=None,
        git_commit=None,
    )
    db.dispose()
    with StateStore.open(url, project_dir=tmp_path) as upgraded:
        assert upgraded.migrated
        assert {"check_results", "profiles", "model_metrics"} <= set(
            inspect(upgraded.engine).get_table_names()
        )
        kept = upgraded.get_run(run_id)
        assert kept is not None and kept.user == "alice"
        upgraded.record_metrics(run_id, "m", "hp.m", {"row_count": 1.0})
        assert upgraded.previous_row_count("m") == 1.0
