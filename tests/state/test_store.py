"""The metadata store on SQLite and on PostgreSQL: what a user of headgate relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import column, insert, inspect, table, update

from headgate.errors import StateError, WarehouseBusy
from headgate.state import EnvModel, Interval, PhysicalRecord, TaskRecord
from headgate.state.locks import LockHolder, this_host
from headgate.state.store import StateStore
from headgate.state.tables import locks, runs

TABLES = {"runs", "tasks", "physical_tables", "environments", "env_models", "intervals", "locks"}
SRC = str(Path(__file__).resolve().parents[2] / "src")


@dataclass
class Target:
    """Where a test's store lives, so a test can open it again or from another process."""

    url: str
    schema: str | None
    project_dir: Path


Opener = Callable[[], StateStore]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite":
        return Target(f"sqlite:///{tmp_path / 'state.db'}", None, tmp_path)
    url = request.getfixturevalue("postgres_url")
    return Target(url, request.getfixturevalue("pg_schema"), tmp_path)


@pytest.fixture
def open_store(target: Target) -> Iterator[Opener]:
    opened: list[StateStore] = []

    def opener() -> StateStore:
        store = StateStore.open(target.url, project_dir=target.project_dir, schema=target.schema)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Opener) -> StateStore:
    return open_store()


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


def dead_pid() -> int:
    """The id of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def start(store: StateStore, environment: str = "prod", **fields: object) -> int:
    values: dict[str, object] = {
        "command": "run",
        "selection": None,
        "user": "alice",
        "host": this_host(),
        "pid": os.getpid(),
        "git_commit": "abc123",
    }
    values.update(fields)
    return store.start_run(environment=environment, **values)  # type: ignore[arg-type]


# opening and migrations


def test_fresh_store_gets_every_table_and_reopening_does_not_migrate(
    open_store: Opener, target: Target
) -> None:
    first = open_store()
    assert first.migrated
    names = set(inspect(first.engine).get_table_names(schema=target.schema))
    assert names >= TABLES | {"alembic_version"}
    assert not open_store().migrated


def test_migrations_create_exactly_the_tables_the_queries_use(
    store: StateStore, target: Target
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData

    from headgate.state.tables import metadata

    expected = MetaData()
    for defined in metadata.tables.values():
        if target.schema:
            defined.to_metadata(expected, schema=target.schema)
        else:
            defined.to_metadata(expected)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_schemas": target.schema is not None,
                "version_table_schema": target.schema,
                "include_name": lambda name, kind, _parent: (
                    kind != "schema" or name == target.schema
                ),
            },
        )
        assert compare_metadata(context, expected) == []


def test_store_from_a_newer_headgate_is_refused_with_a_hint(
    open_store: Opener, target: Target
) -> None:
    store = open_store()
    version = table("alembic_version", column("version_num"), schema=target.schema)
    with store.engine.begin() as conn:
        conn.execute(update(version).values(version_num="9999_future"))
    with pytest.raises(StateError, match="9999_future") as caught:
        open_store()
    assert caught.value.hint is not None and "newer headgate" in caught.value.hint


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from headgate.state.migrate import HEAD_REVISION, MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_reopening_a_current_store_does_not_load_alembic(tmp_path: Path) -> None:
    StateStore.open(None, project_dir=tmp_path).close()
    script = (
        "import sys; from pathlib import Path; from headgate.state.store import StateStore; "
        f"StateStore.open(None, project_dir=Path({str(tmp_path)!r})).close(); "
        "print('alembic' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("HEADGATE_STATE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "False"


def test_default_store_is_a_wal_sqlite_file_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEADGATE_STATE_URL", raising=False)
    with StateStore.open(None, project_dir=tmp_path) as store:
        assert (tmp_path / ".headgate" / "state.db").is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_state_url_from_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADGATE_STATE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    with StateStore.open(None, project_dir=tmp_path) as store:
        assert store.url_for_display.endswith("elsewhere.db")
    assert not (tmp_path / ".headgate").exists()


def test_unreachable_server_error_hides_the_password(tmp_path: Path) -> None:
    with pytest.raises(StateError) as caught:
        StateStore.open("postgresql://bob:s3cret@127.0.0.1:1/db", project_dir=tmp_path)
    message = caught.value.render()
    assert "s3cret" not in message
    assert "postgresql+psycopg://bob:***@127.0.0.1:1/db" in message


def test_unknown_kind_of_url_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="nosuchdb"):
        StateStore.open("nosuchdb://x/y", project_dir=tmp_path)


@pytest.mark.services
def test_url_for_display_masks_the_password(postgres_url: str, pg_schema: str) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:hunter2@", 1)
    with StateStore.open(with_password, project_dir=Path("."), schema=pg_schema) as store:
        assert "hunter2" not in store.url_for_display
        assert store.url_for_display.startswith("postgresql+psycopg://postgres:***@")


# runs and tasks


def test_run_lifecycle_with_tasks_upserted_by_name(store: StateStore) -> None:
    run_id = start(store, selection="staging+")
    store.record_tasks(
        [
            TaskRecord(run_id, "staging.orders", "model", "running", "f1", started_at=at(1, 2)),
            TaskRecord(run_id, "shop.orders", "source", "built", "f0", started_at=at(1, 1)),
            TaskRecord(run_id, "marts.revenue", "model", "pending", "f2"),
        ]
    )
    store.record_tasks(
        [
            TaskRecord(
                run_id,
                "staging.orders",
                "model",
                "built",
                "f1",
                physical_table="hp.staging__orders__f1",
                rows=42,
                started_at=at(1, 2),
                ended_at=at(1, 3),
                seconds=3600.0,
                detail={"intervals": [["2024-01-01", "2024-01-02"]]},
            )
        ]
    )
    running = store.get_run(run_id)
    assert running is not None and running.status == "running" and running.ended_at is None
    store.finish_run(run_id, "failed", error="marts.revenue failed", published=True)

    run = store.get_run(run_id)
    assert run is not None
    assert (run.status, run.error, run.published) == ("failed", "marts.revenue failed", True)
    assert run.selection == "staging+" and run.user == "alice"
    assert run.ended_at is not None and run.ended_at.tzinfo == UTC
    assert [t.name for t in run.tasks] == ["shop.orders", "staging.orders", "marts.revenue"]
    built = run.tasks[1]
    assert (built.status, built.rows, built.physical_table) == (
        "built",
        42,
        "hp.staging__orders__f1",
    )
    assert built.started_at == at(1, 2) and built.ended_at == at(1, 3)
    assert built.detail == {"intervals": [["2024-01-01", "2024-01-02"]]}
    assert run.counts == {"built": 2, "pending": 1}


def test_a_run_read_without_specs_has_the_same_tasks_without_what_each_does(
    store: StateStore,
) -> None:
    run_id = start(store)
    store.record_tasks(
        [
            TaskRecord(
                run_id,
                "a",
                "model",
                "built",
                "f1",
                "hp.a",
                3,
                at(1, 1),
                at(1, 2),
                1.5,
                None,
                {"intervals": 1},
                {"sql": "select 1"},
                2,
            ),
            TaskRecord(run_id, "b", "model", "failed", "f2", error="boom"),
        ]
    )
    full, light = store.get_run(run_id), store.get_run(run_id, specs=False)
    assert full is not None and light is not None
    assert full.tasks[0].spec == {"sql": "select 1"} and full.tasks[0].attempts == 2
    assert [t.spec for t in light.tasks] == [None, None]
    assert [replace(t, spec=None) for t in full.tasks] == light.tasks
    assert light.tasks[1].detail == {} and light.counts == {"built": 1, "failed": 1}


def test_recording_tasks_is_all_or_nothing(store: StateStore) -> None:
    run_id = start(store)
    store.record_tasks([TaskRecord(run_id, "a", "model", "running", "f")])
    broken = TaskRecord(run_id, "b", "model", "built", None)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="recording tasks"):
        store.record_tasks([TaskRecord(run_id, "a", "model", "built", "f"), broken])
    run = store.get_run(run_id)
    assert run is not None
    assert [(t.name, t.status) for t in run.tasks] == [("a", "running")]


def test_finishing_an_unknown_run_is_an_error(store: StateStore) -> None:
    with pytest.raises(StateError, match="no run 999"):
        store.finish_run(999, "success")


def test_list_runs_newest_first_with_counts_but_no_tasks(store: StateStore) -> None:
    first = start(store, "prod")
    second = start(store, "dev")
    third = start(store, "prod")
    store.record_tasks(
        [
            TaskRecord(first, "a", "model", "built", "f"),
            TaskRecord(first, "b", "model", "built", "f"),
            TaskRecord(first, "c", "model", "failed", "f"),
            TaskRecord(third, "a", "model", "skipped", "f"),
        ]
    )
    listed = store.list_runs()
    assert [r.id for r in listed] == [third, second, first]
    assert listed[2].counts == {"built": 2, "failed": 1}
    assert listed[1].counts == {}
    assert all(r.tasks == [] for r in listed)
    assert [r.id for r in store.list_runs(environment="prod")] == [third, first]
    assert [r.id for r in store.list_runs(limit=1)] == [third]


def test_last_run_per_environment(store: StateStore) -> None:
    assert store.last_run() is None
    prod = start(store, "prod")
    dev = start(store, "dev")
    store.record_tasks([TaskRecord(prod, "a", "model", "built", "f")])
    last_prod = store.last_run("prod")
    assert last_prod is not None and last_prod.id == prod
    assert [t.name for t in last_prod.tasks] == ["a"]
    last_any = store.last_run()
    assert last_any is not None and last_any.id == dev
    assert store.last_run("nowhere") is None
    assert store.get_run(12345) is None


def test_abandon_dead_runs_only_touches_runs_whose_process_is_gone(store: StateStore) -> None:
    crashed = start(store, pid=dead_pid())
    alive = start(store)
    elsewhere = start(store, host="other-machine", pid=1)
    old_elsewhere = start(store, host="other-machine", pid=1)
    finished = start(store, pid=dead_pid())
    store.finish_run(finished, "success")
    with store.engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == old_elsewhere)
            .values(started_at=datetime.now(UTC) - timedelta(hours=25))
        )

    assert store.abandon_dead_runs() == [crashed, old_elsewhere]

    status = {run.id: run.status for run in store.list_runs()}
    assert status == {
        crashed: "abandoned",
        alive: "running",
        elsewhere: "running",
        old_elsewhere: "abandoned",
        finished: "success",
    }
    abandoned = store.get_run(crashed)
    assert abandoned is not None and abandoned.ended_at is not None
    assert store.abandon_dead_runs() == []


# physical tables


def physical(i: int, **fields: object) -> PhysicalRecord:
    return PhysicalRecord(
        name=f"headgate_physical.model_{i}__fp{i}",
        model=f"staging.model_{i}",
        fingerprint=f"fp{i}",
        kind="table",
        **fields,  # type: ignore[arg-type]
    )


def test_ten_thousand_physical_tables_register_and_read_back(store: StateStore) -> None:
    # how long this takes is measured by bench/store.py
    records = [physical(i, rows=i, inputs={f"up_{i}": 1}) for i in range(10_000)]
    store.register_physical(records)
    tables = store.physical_tables()

    assert len(tables) == 10_000
    assert {t.name for t in tables.values()} == {r.name for r in records}
    sample = tables["headgate_physical.model_7__fp7"]
    assert (sample.model, sample.rows, sample.inputs, sample.data_version) == (
        "staging.model_7",
        7,
        {"up_7": 1},
        1,
    )
    assert sample.created_at is not None and sample.created_at.tzinfo == UTC
    last = tables["headgate_physical.model_9999__fp9999"]
    assert (last.rows, last.inputs) == (9999, {"up_9999": 1})


def test_registering_again_updates_but_keeps_creation_time(store: StateStore) -> None:
    store.register_physical([physical(1, rows=10)])
    created = store.physical_tables()[physical(1).name].created_at
    store.register_physical([physical(1, rows=20, data_version=2, run_id=7)])
    again = store.physical_tables()[physical(1).name]
    assert (again.rows, again.data_version, again.run_id) == (20, 2, 7)
    assert again.created_at == created


def test_dropping_physical_tables_forgets_them_and_their_intervals(store: StateStore) -> None:
    store.register_physical([physical(1), physical(2)])
    store.add_interval(physical(1).name, at(1), at(2))
    store.drop_physical([physical(1).name])
    assert set(store.physical_tables()) == {physical(2).name}
    assert store.intervals(physical(1).name) == []


# environments


def pointer(model: str, fingerprint: str, environment: str = "dev") -> EnvModel:
    return EnvModel(environment, model, fingerprint, f"hp.{model}__{fingerprint}")


def test_environments_are_created_once_and_listed_with_model_counts(store: StateStore) -> None:
    store.ensure_environment("prod", created_by="alice")
    store.ensure_environment("dev-bob", created_by="bob", from_environment="prod")
    store.ensure_environment("prod", created_by="mallory")
    store.publish("dev-bob", [pointer("a", "1"), pointer("b", "1")], [], run_id=None)

    listed = {env.name: env for env in store.list_environments()}
    assert list(listed) == ["dev-bob", "prod"]
    assert listed["prod"].created_by == "alice"
    assert listed["prod"].models == 0 and listed["prod"].updated_at is None
    assert listed["dev-bob"].from_environment == "prod"
    assert listed["dev-bob"].models == 2
    assert store.env_models("prod") == {}


def test_publish_repoints_removes_and_stamps(store: StateStore) -> None:
    run_id = start(store, "dev")
    store.publish("dev", [pointer("a", "1"), pointer("b", "1"), pointer("c", "1")], [], run_id)
    first_stamp = {e.name: e for e in store.list_environments()}["dev"].updated_at
    store.publish("dev", [pointer("a", "2")], ["c"], run_id)

    models = store.env_models("dev")
    assert sorted(models) == ["a", "b"]
    assert (models["a"].fingerprint, models["a"].physical_table) == ("2", "hp.a__2")
    assert models["a"].run_id == run_id and models["a"].environment == "dev"
    assert models["a"].published_at is not None and models["a"].published_at.tzinfo == UTC
    updated = {e.name: e for e in store.list_environments()}["dev"].updated_at
    assert first_stamp is not None and updated is not None and updated >= first_stamp


def test_pointers_read_from_one_environment_publish_into_another(store: StateStore) -> None:
    store.publish("prod", [pointer("a", "1", "prod")], [], None)
    store.ensure_environment("dev", from_environment="prod")
    store.publish("dev", list(store.env_models("prod").values()), [], None)
    assert store.env_models("dev")["a"].physical_table == "hp.a__1"
    assert store.env_models("dev")["a"].environment == "dev"


def test_published_rows_are_those_of_the_tables_the_environment_points_at(
    store: StateStore,
) -> None:
    store.register_physical(
        [
            PhysicalRecord("hp.a__1", "a", "1", "table", rows=10),
            PhysicalRecord("hp.a__2", "a", "2", "table", rows=20),
            PhysicalRecord("hp.b__1", "b", "1", "view"),
            PhysicalRecord("hp.c__1", "c", "1", "table", rows=30),
        ]
    )
    store.publish("prod", [pointer("a", "1", "prod"), pointer("b", "1", "prod")], [], None)
    store.publish("dev", [pointer("a", "2"), pointer("d", "1")], [], None)  # d: not registered

    assert store.published_rows("prod") == {"hp.a__1": 10, "hp.b__1": None}
    assert store.published_rows("dev") == {"hp.a__2": 20}
    assert store.published_rows("nowhere") == {}


def test_a_models_builds_newest_first_and_its_tasks_seconds_in_their_runs(
    store: StateStore,
) -> None:
    first, second = start(store), start(store)
    store.register_physical([PhysicalRecord("hp.a__1", "a", "1", "table", run_id=first)])
    store.register_physical([PhysicalRecord("hp.b__1", "b", "1", "table", run_id=first)])
    store.register_physical([PhysicalRecord("hp.a__2", "a", "2", "table", run_id=second)])
    store.record_tasks(
        [
            TaskRecord(first, "a", "model", "built", "1", seconds=1.5),
            TaskRecord(first, "b", "model", "built", "1", seconds=9.0),
            TaskRecord(second, "a", "model", "built", "2", seconds=2.5),
        ]
    )
    assert [r.name for r in store.builds_of("a")] == ["hp.a__2", "hp.a__1"]
    assert [r.name for r in store.builds_of("a", limit=1)] == ["hp.a__2"]
    assert store.builds_of("nothing") == []
    assert store.task_seconds("a", [first, second, 999]) == {first: 1.5, second: 2.5}
    assert store.task_seconds("b", [second]) == {} and store.task_seconds("a", []) == {}


def test_failed_publish_changes_nothing(store: StateStore) -> None:
    store.publish("prod", [pointer("a", "1"), pointer("b", "1"), pointer("c", "1")], [], None)
    before = store.env_models("prod")
    stamp = {e.name: e for e in store.list_environments()}["prod"].updated_at
    broken = EnvModel("prod", "b", "2", None)  # type: ignore[arg-type]

    with pytest.raises(StateError, match="publishing environment prod"):
        store.publish("prod", [pointer("a", "2"), broken], ["c"], None)

    assert store.env_models("prod") == before
    assert {e.name: e for e in store.list_environments()}["prod"].updated_at == stamp


def test_deleting_an_environment_removes_its_pointers(store: StateStore) -> None:
    store.publish("dev", [pointer("a", "1")], [], None)
    store.publish("prod", [pointer("a", "1", "prod")], [], None)
    store.delete_environment("dev")
    assert [e.name for e in store.list_environments()] == ["prod"]
    assert store.env_models("dev") == {}
    assert list(store.env_models("prod")) == ["a"]


# incremental intervals


def test_intervals_merge_when_adjacent_or_overlapping(store: StateStore) -> None:
    table = "hp.events__1"
    store.add_interval(table, at(3), at(4))
    store.add_interval(table, at(1), at(2))
    assert store.intervals(table) == [Interval(at(1), at(2)), Interval(at(3), at(4))]
    store.add_interval(table, at(2), at(3))  # touches both neighbours
    assert store.intervals(table) == [Interval(at(1), at(4))]
    store.add_interval(table, at(3, 12), at(6))  # overlaps the end
    store.add_interval(table, at(8), at(9))
    assert store.intervals(table) == [Interval(at(1), at(6)), Interval(at(8), at(9))]
    assert store.intervals("hp.other__1") == []


def test_removing_an_interval_cuts_a_hole(store: StateStore) -> None:
    table = "hp.events__1"
    store.add_interval(table, at(1), at(10))
    store.remove_interval(table, at(4), at(5))
    assert store.intervals(table) == [Interval(at(1), at(4)), Interval(at(5), at(10))]
    store.remove_interval(table, at(3), at(6))  # spans the hole
    store.remove_interval(table, at(9), at(12))  # cuts the end
    assert store.intervals(table) == [Interval(at(1), at(3)), Interval(at(6), at(9))]
    store.clear_intervals(table)
    assert store.intervals(table) == []


def test_intervals_come_back_in_utc_and_naive_times_are_refused(store: StateStore) -> None:
    paris = timezone(timedelta(hours=1))
    store.add_interval("hp.t__1", datetime(2024, 1, 1, 1, tzinfo=paris), at(2))
    assert store.intervals("hp.t__1") == [Interval(at(1), at(2))]
    assert store.intervals("hp.t__1")[0].start.tzinfo == UTC
    with pytest.raises(ValueError, match="naive"):
        store.add_interval("hp.t__1", datetime(2024, 1, 3), datetime(2024, 1, 4))
    with pytest.raises(ValueError, match="before its start"):
        store.add_interval("hp.t__1", at(5), at(4))
    assert store.intervals("hp.t__1") == [Interval(at(1), at(2))]


# locks


def test_second_acquire_without_waiting_names_the_holder(store: StateStore) -> None:
    with store.acquire_lock("env:prod", description="run 41 by alice"):
        with pytest.raises(WarehouseBusy) as caught:
            store.acquire_lock("env:prod", wait=False)
        assert "run 41 by alice" in caught.value.message
        assert f"pid {os.getpid()}" in caught.value.message
        assert caught.value.transient
    store.acquire_lock("env:prod", wait=False).release()


def test_waiting_tells_the_user_once_then_gives_up(store: StateStore) -> None:
    seen: list[LockHolder] = []
    with store.acquire_lock("env:prod", description="deploy 7 by carol"):
        began = time.monotonic()
        with pytest.raises(WarehouseBusy, match="gave up after waiting"):
            store.acquire_lock("env:prod", timeout=1.2, on_wait=seen.append)
        waited = time.monotonic() - began
    assert [h.description for h in seen] == ["deploy 7 by carol"]
    assert seen[0].pid == os.getpid() and seen[0].host == this_host()
    assert waited >= 1.2  # it waited its whole timeout before giving up
    assert waited < 60  # and then gave up (not a measure of speed: only of not hanging)


def test_lock_of_a_crashed_process_is_taken_over(store: StateStore, target: Target) -> None:
    script = (
        "import os; from pathlib import Path; from headgate.state.store import StateStore; "
        f"s = StateStore.open({target.url!r}, project_dir=Path('.'), schema={target.schema!r}); "
        "s.acquire_lock('env:prod', description='run 9 by dave'); os._exit(0)"
    )
    subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": SRC}, check=True
    )
    with store.engine.connect() as conn:
        left_behind = conn.execute(locks.select()).one()
    assert left_behind.description == "run 9 by dave" and left_behind.pid != os.getpid()
    lock = store.acquire_lock("env:prod", wait=False)
    assert lock.holder.pid == os.getpid()
    lock.release()


def test_lock_whose_heartbeat_stopped_is_taken_over(store: StateStore) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    with store.engine.begin() as conn:
        conn.execute(
            insert(locks).values(
                name="env:prod",
                token="gone",
                pid=1,
                host="other-machine",
                description="run 3 by erin",
                acquired_at=long_ago,
                heartbeat_at=long_ago,
            )
        )
    with store.acquire_lock("env:prod", wait=False) as lock:
        assert lock.holder.host == this_host()


def test_lock_from_another_machine_with_a_fresh_heartbeat_is_respected(store: StateStore) -> None:
    recent = datetime.now(UTC) - timedelta(seconds=30)
    with store.engine.begin() as conn:
        conn.execute(
            insert(locks).values(
                name="env:prod",
                token="remote",
                pid=1,
                host="other-machine",
                description="run 5 by frank",
                acquired_at=recent,
                heartbeat_at=recent,
            )
        )
    with pytest.raises(WarehouseBusy, match=r"run 5 by frank.*other-machine"):
        store.acquire_lock("env:prod", wait=False)


def test_two_threads_contending_for_a_lock_take_turns(store: StateStore) -> None:
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with store.acquire_lock("env:prod", timeout=30):
                began = time.monotonic()
                time.sleep(0.3)
                spans.append((began, time.monotonic()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    first, second = sorted(spans)
    assert first[1] <= second[0], "both threads held the lock at once"


def test_release_is_idempotent_and_heartbeat_fails_once_taken_over(store: StateStore) -> None:
    lock = store.acquire_lock("env:prod", heartbeat_every=None)
    lock.heartbeat()
    with store.engine.begin() as conn:
        conn.execute(update(locks).values(token="someone-else"))
    with pytest.raises(StateError, match="no longer held"):
        lock.heartbeat()
    lock.release()
    lock.release()
    with store.engine.begin() as conn:
        assert conn.execute(locks.select()).all() != []  # the new holder's row survives


def test_heartbeat_keeps_a_long_held_lock_fresh(store: StateStore) -> None:
    with store.acquire_lock("env:prod", heartbeat_every=0.1):
        with store.engine.connect() as conn:
            first = conn.execute(locks.select()).one().heartbeat_at
        later = first
        deadline = time.monotonic() + 60  # beats every 0.1 s; a busy machine may delay a few
        while later == first and time.monotonic() < deadline:
            time.sleep(0.1)
            with store.engine.connect() as conn:
                later = conn.execute(locks.select()).one().heartbeat_at
        assert later > first
