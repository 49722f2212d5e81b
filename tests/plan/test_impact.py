"""The impact review: breaking or not, judged by the columns each downstream model reads."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from headgate import Project
from tests.support import cli, cli_json, write_project

ORDERS = """
    select * from (values (1, 10.0, 'paid', 'a'), (2, 20.0, 'open', 'b'), (3, 5.0, 'paid', 'c'))
        as t(id, amount, status, note)
"""
FILES = {
    "models/staging/orders.sql": "select id, amount, status, note from raw.orders",
    "models/raw/orders.sql": ORDERS,
    "models/marts/revenue.sql": "select sum(amount) as revenue from staging.orders",
    "models/marts/by_status.sql": "select status, count(*) as n from staging.orders group by status",
    "models/marts/all_orders.sql": "select * from staging.orders",
    "models/marts/paid_revenue.sql": "select revenue from marts.revenue",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    return root


def impacts(root: Path) -> dict[str, dict[str, object]]:
    return {m["name"]: m for m in cli_json(root, "plan")["models"]}


def test_no_change_means_nothing_to_review(root: Path) -> None:
    assert impacts(root) == {}
    assert "nothing to review" in cli(root, "plan", check=True).stdout


def test_an_added_column_breaks_nobody_and_rebuilds_only_star_readers(root: Path) -> None:
    (root / "models/staging/orders.sql").write_text(
        "select id, amount, status, note, amount > 8 as big from raw.orders"
    )
    found = impacts(root)
    assert found["staging.orders"]["change"] == "direct"
    assert found["staging.orders"]["breaking"] is False
    assert found["staging.orders"]["columns_changed"] == ["big"]
    assert found["marts.revenue"]["change"] == "indirect"
    assert (found["marts.revenue"]["breaking"], found["marts.revenue"]["rebuild"]) == (False, False)
    assert found["marts.all_orders"]["rebuild"] is True  # `select *` gains the column
    assert found["marts.all_orders"]["breaking"] is False
    result = cli_json(root, "run")
    built = {m["name"] for m in result["models"] if m["status"] == "built"}
    assert built == {"staging.orders", "marts.all_orders"}  # the rest keep their tables
    columns = cli_json(root, "query", "select * from marts.all_orders limit 1")["columns"]
    assert columns == ["id", "amount", "status", "note", "big"]
    assert cli_json(root, "query", "select revenue from marts.paid_revenue")["rows"] == [
        {"revenue": 35.0}
    ]


def test_a_redefined_column_breaks_only_its_readers(root: Path) -> None:
    (root / "models/staging/orders.sql").write_text(
        "select id, amount * 2 as amount, status, note from raw.orders"
    )
    found = impacts(root)
    assert found["staging.orders"]["breaking"] is True
    assert found["staging.orders"]["columns_changed"] == ["amount"]
    assert "amount * 2" in str(found["staging.orders"]["sql_diff"])
    assert found["marts.revenue"]["breaking"] is True
    assert found["marts.revenue"]["reads_changed"] == {"staging.orders": ["amount"]}
    assert found["marts.paid_revenue"]["breaking"] is True  # revenue's revenue column changed
    assert (found["marts.by_status"]["breaking"], found["marts.by_status"]["rebuild"]) == (
        False,
        False,
    )
    assert found["marts.all_orders"]["breaking"] is True
    result = cli_json(root, "run")
    statuses = {m["name"]: m["status"] for m in result["models"]}
    assert statuses["marts.by_status"] == "skipped" and statuses["marts.revenue"] == "built"
    assert cli_json(root, "query", "select revenue from marts.paid_revenue")["rows"] == [
        {"revenue": 70.0}
    ]
    assert cli_json(root, "query", "select n from marts.by_status where status = 'paid'")[
        "rows"
    ] == [{"n": 2}]


def test_a_new_filter_changes_every_column(root: Path) -> None:
    (root / "models/staging/orders.sql").write_text(
        "select id, amount, status, note from raw.orders where status = 'paid'"
    )
    found = impacts(root)
    assert found["marts.by_status"]["breaking"] is True  # the rows changed under every column


def test_removed_column_is_breaking_and_fail_on_breaking_exits_3(root: Path) -> None:
    (root / "models/staging/orders.sql").write_text("select id, amount, status from raw.orders")
    cli(root, "run", "--env", "dev", check=True)  # built, so the schema diff is known
    found = impacts(root)
    schema = found["staging.orders"]["schema"]
    assert {"column": "note", "change": "removed", "before": "VARCHAR", "after": None} in schema  # type: ignore[operator]
    assert found["marts.all_orders"]["breaking"] is True
    assert found["marts.revenue"]["breaking"] is False
    assert cli(root, "plan", "--fail-on-breaking").returncode == 3
    markdown = cli(root, "plan", "--markdown", check=True).stdout
    assert "| `marts.all_orders` | indirect | **yes** |" in markdown
    assert "```diff" in markdown


def test_plan_at_a_git_revision(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"  # where the revision's files are laid out
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q")
    git("add", "headgate.yml", "models")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "models")
    (root / "models/staging/orders.sql").write_text("select id, amount from raw.orders")
    assert impacts(root)  # the work tree differs from prod
    at_head = cli_json(root, "plan", "--rev", "HEAD")
    assert at_head["models"] == [] and at_head["revision"] == "HEAD"
    bad = cli(root, "plan", "--rev", "no-such-branch")
    assert bad.returncode == 1 and "cannot read revision" in bad.stderr
    assert list(scratch.iterdir()) == []  # the revision's files went with the command


def test_impact_from_python(root: Path) -> None:
    (root / "models/marts/revenue.sql").write_text(
        "select sum(amount) + 0 as revenue from staging.orders"
    )
    with Project.load(root) as project:
        found = {i.name: i for i in project.impact()}
    assert found["marts.revenue"].change == "direct"
    assert found["marts.paid_revenue"].breaking
