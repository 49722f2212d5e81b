"""`headgate failures` tells what happened to a custom check: errored, or one result per model."""

from __future__ import annotations

from pathlib import Path

from tests.support import cli, cli_json, write_project

FILES = {
    "models/orders.sql": "select * from (values (1, 10), (2, 99)) as t(order_id, customer_id)",
    "models/customers.sql": "select * from (values (10), (11)) as t(customer_id)",
    # reads both models: a result for each
    "checks/orders_have_customers.sql": (
        "select o.* from orders o left join customers c using (customer_id) "
        "where c.customer_id is null"
    ),
    # reads a column that does not exist: the check errors
    "checks/broken.sql": "/* headgate:\nseverity: warn\n*/\nselect * from orders where amont < 0",
}


def test_an_errored_custom_check_says_it_errored_and_why(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run")
    shown = cli(root, "failures", "broken", check=True).stdout
    assert "broken on orders: error" in shown
    assert "no failing rows: the check errored, it could not be decided (" in shown
    assert "amont" in shown and "fix its query, then run `headgate test`" in shown
    assert "not row-level" not in shown


def test_a_custom_check_on_two_models_built_together_runs_once_after_both(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path, FILES)
    report = cli_json(root, "run")
    assert report["status"] == "failed"  # the orphan order blocks publishing
    names = {(c["name"], m["name"]) for m in report["models"] for c in m.get("checks", [])}
    # both models are new: the check waits for the second and reads this run's tables once
    assert ("orders_have_customers@orders", "orders") in names  # orders is built second
    assert ("orders_have_customers@customers", "customers") not in names
    shown = cli(root, "failures", "orders_have_customers", check=True).stdout
    assert "orders_have_customers@orders on orders: fail" in shown
    one = cli_json(root, "failures", "orders_have_customers@orders")
    assert one["model"] == "orders" and one["sample"] == [{"order_id": 2, "customer_id": 99}]


def test_a_custom_check_on_two_models_has_a_result_for_each_model_it_audits(
    tmp_path: Path,
) -> None:
    files = {**FILES, "models/customers.sql": "select * from (values (10), (99)) as t(customer_id)"}
    root = write_project(tmp_path, files)
    assert cli_json(root, "run")["status"] == "success"
    (root / "models/orders.sql").write_text(
        "select * from (values (1, 10), (2, 98)) as t(order_id, customer_id)"
    )
    assert cli_json(root, "run")["status"] == "failed"
    (root / "models/customers.sql").write_text(
        "select * from (values (10), (98), (97)) as t(customer_id)"
    )
    (root / "models/orders.sql").write_text(
        "select * from (values (1, 10), (2, 96)) as t(order_id, customer_id)"
    )
    cli_json(root, "run", "--select", "customers")
    both = cli_json(root, "failures", "orders_have_customers")
    assert sorted(r["model"] for r in both["results"]) == ["customers", "orders"]
    shown = cli(root, "failures", "orders_have_customers", check=True).stdout
    assert "orders_have_customers@orders on orders: fail" in shown


def test_the_models_a_models_checks_read_are_known(tmp_path: Path) -> None:
    from headgate import Project

    root = write_project(
        tmp_path,
        {
            **FILES,
            "models/orders.yml": (
                "columns:\n  customer_id:\n    checks:\n"
                "      - relationships: {to: customers, column: customer_id}\n"
            ),
        },
    )
    with Project.load(root) as project:
        assert project.checks.reads("orders") == ["customers"]
        assert project.checks.reads("customers") == ["orders"]  # the custom check reads it
