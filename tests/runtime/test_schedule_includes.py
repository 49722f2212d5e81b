"""What a run includes: ingest, build, checks, publish, deliveries, from a schedule or a call.

A schedule that publishes must check (write-audit-publish); without publish what is built
waits, unpublished; without ingest the models read the sources' current tables; without
build only the sources load.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import HeadgateError
from headgate.runtime.results import RunResult
from tests.support import HEADGATE_YML, cli, write_project

pytestmark = pytest.mark.fast

FILES = {
    "data/orders_1.csv": "id,amount\n1,10\n2,20\n",
    "sources/shop.yml": """
        type: files
        tables:
          orders: {path: data/orders_*.csv, format: csv}
    """,
    "models/totals.sql": "select count(*) as orders, sum(amount) as amount from shop.orders",
    "models/totals.yml": """
        checks:
          - row_count: {min: 1}
        columns:
          amount:
            checks:
              - range: {max: 1000}
    """,
}

SCHEDULES = """
schedules:
  - name: review_build
    cron: "0 2 * * *"
    environment: prod
    includes: [ingest, build, checks]
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "shop", FILES, config=HEADGATE_YML + SCHEDULES)
    with Project.load(root) as project:
        assert project.run("prod").ok
    return root


def totals(project: Project) -> dict[str, int]:
    rows = project.query("select orders, amount from totals", environment="prod").to_pylist()
    return {"orders": int(rows[0]["orders"]), "amount": int(rows[0]["amount"])}


def orders(project: Project) -> int:
    rows = project.query("select count(*) as n from shop.orders", environment="prod").to_pylist()
    return int(rows[0]["n"])


def run_of(result: RunResult) -> int:
    assert result.run_id is not None
    return result.run_id


def refused(root: Path, schedule: str) -> str:
    (root / "headgate.yml").write_text(HEADGATE_YML + "schedules:\n" + schedule)
    with pytest.raises(HeadgateError) as caught, Project.load(root) as project:
        project.loaded  # noqa: B018
    return caught.value.render()


def test_a_schedule_that_publishes_without_checks_is_refused_with_its_line(shop: Path) -> None:
    message = refused(
        shop, '  - name: n\n    cron: "0 2 * * *"\n    includes: [ingest, build, publish]\n'
    )
    assert "headgate.yml:8:" in message, message
    assert "a run that publishes must check what it publishes" in message
    message = refused(shop, '  - {name: n, cron: "0 2 * * *", includes: [build, deliveries]}\n')
    assert "deliveries run after a publish" in message and "headgate.yml:6:" in message
    message = refused(shop, '  - {name: n, cron: "0 2 * * *", includes: [build, audit]}\n')
    assert "'audit' is not a step of a run" in message and "ingest, build, checks" in message
    message = refused(
        shop, '  - {name: n, cron: "0 2 * * *", includes: [build], agents: {labels: {a: b}}}\n'
    )
    assert "runs that go to agents check what they build" in message


def test_a_run_without_publish_builds_and_waits_unpublished(shop: Path) -> None:
    (shop / "data/orders_2.csv").write_text("id,amount\n3,30\n")
    with Project.load(shop) as project:
        result = project.run("prod", includes=["ingest", "build", "checks"])
        assert result.ok and not result.published
        assert totals(project) == {"orders": 2, "amount": 30}  # readers see what they saw
        record = project.run_detail(run_of(result))
        assert record.command == "run --only ingest,build,checks"
        assert not record.published
        [entry] = [e for e in project.audit_log(action="run.start") if e.target == str(record.id)]
        assert entry.detail["includes"] == ["ingest", "build", "checks"]
        assert {t.name: t.status for t in record.tasks} == {
            "shop.orders": "built",
            "totals": "built",
        }
        # a full run then publishes what was built, built once
        again = project.run("prod")
        assert again.published and totals(project) == {"orders": 3, "amount": 60}
        assert all(t.status != "built" for t in again.tasks), again.tasks
        assert project.run_detail(run_of(again)).command == "run"


def test_a_run_without_checks_never_lets_an_unaudited_table_through(shop: Path) -> None:
    (shop / "data/orders_2.csv").write_text("id,amount\n3,5000\n")  # breaks range max 1000
    with Project.load(shop) as project:
        built = project.run("prod", includes=["ingest", "build"])
        assert built.ok and not built.published  # nothing checked, nothing published
        checked = project.run("prod")  # the table built unchecked is audited before publish
        assert not checked.published and checked.status == "failed"
        assert totals(project) == {"orders": 2, "amount": 30}
        assert {t.name: t.status for t in checked.tasks}["totals"] == "failed"
        unchecked = project.run("prod", includes=["ingest", "build"])  # audits nothing
        assert unchecked.status == "nothing_to_do", unchecked.tasks
        assert project.run("prod").status == "failed"  # still refused at its publish
        assert totals(project) == {"orders": 2, "amount": 30}


def test_a_run_without_ingest_reads_the_sources_current_tables(shop: Path) -> None:
    (shop / "data/orders_2.csv").write_text("id,amount\n3,30\n")
    (shop / "models/totals.sql").write_text(
        "select count(*) as orders, sum(amount) * 2 as amount from shop.orders"
    )
    with Project.load(shop) as project:
        result = project.run("prod", includes=["build", "checks", "publish", "deliveries"])
        assert result.ok and result.published
        assert "shop.orders" not in {t.name for t in result.tasks if t.status == "built"}
        assert orders(project) == 2 and totals(project) == {"orders": 2, "amount": 60}
        assert project.run_detail(run_of(result)).command == (
            "run --only build,checks,publish,deliveries"
        )
        later = project.run("prod")  # the next full run loads the new file and rebuilds
        assert orders(project) == 3 and totals(project) == {"orders": 3, "amount": 120}
        assert later.published


def test_a_run_without_ingest_refuses_a_source_never_loaded(tmp_path: Path) -> None:
    root = write_project(tmp_path / "shop", FILES)
    with Project.load(root) as project, pytest.raises(HeadgateError) as caught:
        project.run("prod", includes=["build", "checks", "publish"])
    message = caught.value.render()
    assert "totals reads shop.orders, which was never loaded in prod" in message, message
    assert "add ingest to the schedule's includes" in message


def test_a_run_without_build_loads_only_the_sources(shop: Path) -> None:
    (shop / "data/orders_2.csv").write_text("id,amount\n3,30\n")
    with Project.load(shop) as project:
        result = project.run("prod", includes=["ingest", "checks", "publish"])
        assert result.published
        assert orders(project) == 3 and totals(project) == {"orders": 2, "amount": 30}
        assert {t.name for t in result.tasks if t.status == "built"} == {"shop.orders"}


def test_a_schedules_run_does_what_its_includes_say(shop: Path) -> None:
    (shop / "data/orders_2.csv").write_text("id,amount\n3,30\n")
    with Project.load(shop) as project:
        [listed] = project.schedules()
        assert listed.includes == ["ingest", "build", "checks"]
        run_id = project.trigger_schedule("review_build", project._run_in_thread, user="t")
        deadline = time.monotonic() + 60  # only stops a hang
        while project.run_detail(run_id).status == "running":
            assert time.monotonic() < deadline, "the schedule's run did not finish"
            time.sleep(0.1)
        for thread in threading.enumerate():  # its warehouse connection closes as it ends
            if thread.name == f"headgate-run-{run_id}":
                thread.join(timeout=60)
        record = project.run_detail(run_id)
        assert record.status == "success" and not record.published, record
        assert record.command == "run --only ingest,build,checks"
        assert totals(project) == {"orders": 2, "amount": 30}


def test_a_schedule_for_agents_run_without_a_hub_ends_failed_saying_why(shop: Path) -> None:
    (shop / "headgate.yml").write_text(
        HEADGATE_YML
        + 'schedules:\n  - {name: far, cron: "0 2 * * *", agents: {labels: {site: eu}}}\n'
    )
    with Project.load(shop) as project:
        run_id = project.trigger_schedule("far", project._run_in_thread, user="t")
        record = project.run_detail(run_id)
    assert record.status == "failed"
    assert "only the hub hands runs to agents" in (record.error or ""), record.error


def test_headgate_run_only_does_the_steps_it_names(shop: Path) -> None:
    (shop / "data/orders_2.csv").write_text("id,amount\n3,30\n")
    refused = cli(shop, "run", "--env", "prod", "--only", "build,publish")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "a run that publishes must check what it publishes" in refused.stderr
    done = cli(shop, "run", "--env", "prod", "--only", "ingest,build,checks", check=True)
    assert "published" not in done.stdout, done.stdout
    with Project.load(shop) as project:
        assert totals(project) == {"orders": 2, "amount": 30}
        assert project.runs(limit=1)[0].command == "run --only ingest,build,checks"
