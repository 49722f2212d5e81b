"""`headgate test` and `headgate failures` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from tests.support import cli, cli_json, write_project

FILES = {
    "models/orders.sql": "select * from (values (1, 5), (2, -1), (3, -2)) as t(order_id, quantity)",
    "models/orders.yml": """
        columns:
          order_id:
            checks: [not_null, unique]
          quantity:
            checks:
              - range: {min: 1}
                severity: warn
    """,
}


def test_test_command_checks_what_is_published_and_failures_shows_the_rows(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    report = cli_json(root, "test")
    assert report["status"] == "success"
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {
        "orders.order_id.not_null": "pass",
        "orders.order_id.unique": "pass",
        "orders.quantity.range": "warn",
    }
    shown = cli(root, "test", check=True)
    assert "1 warning" in shown.stdout or "warning(s)" in shown.stdout
    failures = cli(root, "failures", "orders.quantity.range", check=True)
    assert "2 of 3 rows" in failures.stdout
    assert "-2" in failures.stdout and "SELECT" in failures.stdout
    as_json = cli_json(root, "failures", "orders.quantity.range")
    assert sorted(r["quantity"] for r in as_json["sample"]) == [-2, -1]


def test_test_exits_non_zero_when_an_error_check_fails(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "models/orders.yml").write_text(
        "columns:\n  quantity:\n    checks:\n      - range: {min: 1}\n"
    )
    done = cli(root, "test")
    assert done.returncode == 1
    assert "checks failed" in done.stdout


def test_failures_of_an_unknown_check_suggests_names(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    done = cli(root, "failures", "orders.order_id.uniqe")
    assert done.returncode == 1
    assert "orders.order_id.unique" in done.stderr
