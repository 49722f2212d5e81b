"""File-arrival triggers: a settled new file starts a run once; loaded files start nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import ProjectError
from headgate.project.schedules import TriggerConfig
from tests.support import write_project

CONFIG = "name: t\ntriggers:\n  - {name: arrivals, files: shop.orders}\n"
FILES = {
    "data/orders_1.csv": "id\n1\n",
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders_*.csv, format: csv}\n",
    "models/n.sql": "select count(*) as n from shop.orders",
}


def test_each_new_file_starts_one_run_once_it_stopped_changing(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES, config=CONFIG)
    fired: list[tuple[str, list[str]]] = []
    with Project.load(root) as project:
        assert project.run().ok  # orders_1.csv is loaded: not new

        def start(environment: str, **options: object) -> int:
            fired.append((str(options["user"]), []))
            return project.state.start_run(
                environment=environment,
                command="run",
                selection=str(options["selection"]),
                user=str(options["user"]),
                host="h",
                pid=1,
                git_commit=None,
            )

        scheduler = project.scheduler(start_run=start)
        assert scheduler.watch is not None
        assert scheduler.tick().triggered == []  # first look: sizes noted
        assert scheduler.tick().triggered == []  # the loaded file is not new
        (root / "data" / "orders_2.csv").write_text("id\n2\n")
        (root / "data" / "orders_3.csv").write_text("id\n3\n")
        assert scheduler.tick().triggered == []  # just landed: maybe still being written
        with open(root / "data" / "orders_3.csv", "a") as growing:
            growing.write("4\n")
        assert scheduler.tick().triggered == [("arrivals", ["data/orders_2.csv"])]
        assert scheduler.tick().triggered == [("arrivals", ["data/orders_3.csv"])]  # settled now
        for _ in range(3):
            assert scheduler.tick().triggered == []  # each file once, even before its load
        statuses = {s.name: s for s in project.schedules()}
    assert [user for user, _ in fired] == ["trigger arrivals", "trigger arrivals"]
    assert statuses["arrivals"].kind == "files" and statuses["arrivals"].last_run_id is not None


def test_a_paused_trigger_starts_nothing(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES, config=CONFIG)
    with Project.load(root) as project:
        scheduler = project.scheduler(start_run=lambda *a, **k: pytest.fail("started a run"))
        project.pause_schedule("arrivals")
        for _ in range(3):
            assert scheduler.tick().triggered == []


def test_a_trigger_selects_its_table_and_downstream_by_default() -> None:
    trigger = TriggerConfig(name="a", files="Shop.Orders")
    assert trigger.selection == "shop.orders+"


def test_a_trigger_named_like_a_schedule_is_refused_with_its_line(tmp_path: Path) -> None:
    config = (
        "name: t\nschedules:\n  - {name: a, cron: '0 * * * *'}\n"
        "triggers:\n  - {name: a, files: shop.orders}\n"
    )
    root = write_project(tmp_path, FILES, config=config)
    with pytest.raises(ProjectError) as caught:
        Project.load(root).loaded  # noqa: B018
    assert "a names two schedules or triggers" in caught.value.render()


def test_a_file_claimed_by_a_leader_that_died_before_its_run_fires_for_the_next_leader(
    tmp_path: Path,
) -> None:
    from headgate.project.loader import _file_digest
    from headgate.runtime.triggers import CLAIMED_AT, claim_name

    root = write_project(tmp_path, FILES, config=CONFIG)
    started: list[str] = []
    with Project.load(root) as project:
        digest = _file_digest(str(root / "data" / "orders_1.csv"))
        assert project.state.claim_slot(claim_name("arrivals", digest), CLAIMED_AT, state="started")

        def start(environment: str, **options: object) -> int:
            started.append(environment)
            return len(started)

        scheduler = project.scheduler(start_run=start)
        for _ in range(3):
            assert scheduler.tick().triggered == []  # claimed already: the dead leader's
        scheduler.take_over()
        assert scheduler.tick().triggered == [("arrivals", ["data/orders_1.csv"])]
        assert scheduler.tick().triggered == []  # once
    assert started == ["prod"]


def test_a_trigger_on_a_table_that_is_not_a_files_source_is_named_with_its_line(
    tmp_path: Path,
) -> None:
    config = "name: t\ntriggers:\n  - name: arrivals\n    files: shop.order\n"
    root = write_project(tmp_path, FILES, config=config)
    with pytest.raises(ProjectError) as caught:
        Project.load(root).loaded  # noqa: B018
    shown = caught.value.render()
    assert "headgate.yml:4" in shown and "'shop.order' is not a table of a files source" in shown
    assert "shop.orders" in shown  # the tables there are
