"""Broken SQL is refused with the file, the line and the text at fault: never run, never a traceback.

headgate builds what sqlglot renders from a model, and sqlglot reads some broken SQL
leniently (a join whose ``on`` has nothing after it becomes a cross join). These tests
make sure such SQL is refused before anything is built.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import cli, write_project

ORDERS = "select range as order_id, range % 7 as customer_id from range(40)"


def refused(root: Path, *args: str) -> str:
    """The CLI's output for a command that must fail cleanly."""
    done = cli(root, *args)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output
    return " ".join(output.split())  # the terminal may wrap long lines


@pytest.mark.parametrize(
    ("sql", "line", "near"),
    [
        # a join whose condition is missing: sqlglot would make it a cross join
        ("select a.order_id\nfrom staging.orders a\njoin staging.orders b on\n", 3, "'on'"),
        ("select a.order_id\nfrom staging.orders a\njoin staging.orders b using\n", 3, "'using'"),
        ("select order_id\nfrom staging.orders\ngroup by\n", 3, "'by'"),
        ("select order_id\nfrom staging.orders\nwhere\n", 3, "'where'"),
        ("select order_id\nfrom staging.orders\norder by\n", 3, "'by'"),
        ("select order_id as\n", 1, "'as'"),
        ("select order_id\nfrom staging.orders\nwhere order_id in (1, 2\n", 3, "'2'"),
        ("select sum(order_id\nfrom staging.orders\n", 2, "'from'"),
    ],
)
def test_truncated_statements_are_refused_at_the_line_they_break_off(
    tmp_path: Path, sql: str, line: int, near: str
) -> None:
    root = write_project(
        tmp_path,
        {"models/staging/orders.sql": ORDERS, "models/marts/broken.sql": sql},
    )
    for command in ("plan", "run"):
        message = refused(root, command)
        assert f"models/marts/broken.sql:{line}:" in message
        assert f"SQL syntax error at {near}" in message
    assert not (root / ".headgate/warehouse.duckdb").exists()  # nothing was built


def test_a_join_without_its_condition_never_builds_a_cross_join(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "models/staging/orders.sql": ORDERS,
            "models/marts/pairs.sql": (
                "select a.order_id\nfrom staging.orders a\njoin staging.orders b on\n"
            ),
        },
    )
    message = refused(root, "run")
    assert "pairs.sql:3:" in message and "the statement ends here" in message
    assert not (root / ".headgate/warehouse.duckdb").exists()  # nothing was built


def test_an_unterminated_string_names_where_it_opens(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "models/staging/orders.sql": ORDERS,
            "models/marts/labels.sql": "select 'abc as x, order_id\nfrom staging.orders\n",
        },
    )
    message = refused(root, "plan")
    assert "models/marts/labels.sql:1:8:" in message
    assert "unterminated string literal" in message


def test_a_misspelt_keyword_is_named_on_its_own_line(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "models/staging/orders.sql": ORDERS,
            "models/marts/ids.sql": "selec order_id\nfrom staging.orders\n",
        },
    )
    message = refused(root, "plan")
    assert "models/marts/ids.sql:1:1:" in message
    assert "SQL syntax error at 'selec'" in message


def test_sql_inside_a_python_model_is_checked_at_the_line_of_the_call(tmp_path: Path) -> None:
    python_model = (
        "def model(ctx):\n"
        "    return ctx.sql(\n"
        '        "select order_id from staging.orders o join staging.orders p on"\n'
        "    )\n"
    )
    root = write_project(
        tmp_path,
        {"models/staging/orders.sql": ORDERS, "models/marts/pairs.py": python_model},
    )
    message = refused(root, "plan")
    assert "models/marts/pairs.py:3" in message
    assert "in ctx.sql(...)" in message and "'on'" in message


def test_a_query_on_the_command_line_is_refused_the_same_way(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/staging/orders.sql": ORDERS})
    cli(root, "run", check=True)
    message = refused(
        root, "query", "select a.order_id from staging.orders a join staging.orders b on"
    )
    assert "line 1, column" in message and "SQL syntax error at 'on'" in message
    message = refused(root, "query", "select 'open from staging.orders")
    assert "unterminated string literal" in message


def test_custom_checks_and_check_conditions_are_refused_with_their_file_and_line(
    tmp_path: Path,
) -> None:
    root = write_project(
        tmp_path,
        {
            "models/staging/orders.sql": ORDERS,
            "checks/pairs.sql": "select *\nfrom staging.orders a\njoin staging.orders b on\n",
        },
    )
    message = refused(root, "run")
    assert "checks/pairs.sql:3:" in message and "'on'" in message
    (root / "checks/pairs.sql").unlink()
    (root / "models/staging/orders.yml").write_text(
        'columns:\n  order_id:\n    checks:\n      - not_null:\n        where: "customer_id = \'x"\n'
    )
    message = refused(root, "run")
    assert "models/staging/orders.yml:5" in message
    assert "unterminated string literal" in message


def test_a_delivery_query_is_refused_before_anything_runs(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "models/staging/orders.sql": ORDERS,
            "deliveries/report.yml": (
                "type: report\ntitle: Orders\nsections:\n"
                '  - {title: All, query: "select * from staging.orders group by"}\n'
                "output: out/report.html\n"
            ),
        },
    )
    message = refused(root, "run")
    assert "deliveries/report.yml" in message and "SQL syntax error at 'by'" in message


def test_a_model_that_reads_itself_is_named_with_its_line(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "models/staging/orders.sql": ORDERS,
            "models/marts/selfref.sql": (
                "select order_id from staging.orders\nunion all\nselect order_id from marts.selfref\n"
            ),
        },
    )
    message = refused(root, "run")
    assert "models/marts/selfref.sql:3" in message
    assert "model 'marts.selfref' reads itself" in message
    assert "does not exist! Did you mean" not in message
