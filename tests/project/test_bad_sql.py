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


PYTHON_MODEL_WITH_BROKEN_SQL = (
    "def model(ctx):\n"
    "    return ctx.sql(\n"
    '        "select order_id from staging.orders o join staging.orders p on"\n'
    "    )\n"
)


@pytest.mark.parametrize(
    ("command", "path", "text", "said"),
    [
        pytest.param(
            "run",
            "models/marts/pairs.sql",
            "select a.order_id\nfrom staging.orders a\njoin staging.orders b on\n",
            ["pairs.sql:3:", "the statement ends here"],
            id="join-without-its-condition-never-a-cross-join",
        ),
        pytest.param(
            "run",
            "deliveries/report.yml",
            "type: report\ntitle: Orders\nsections:\n"
            '  - {title: All, query: "select * from staging.orders group by"}\n'
            "output: out/report.html\n",
            ["deliveries/report.yml", "SQL syntax error at 'by'"],
            id="delivery-query-before-anything-runs",
        ),
        pytest.param(
            "run",
            "models/marts/selfref.sql",
            "select order_id from staging.orders\nunion all\nselect order_id from marts.selfref\n",
            ["models/marts/selfref.sql:3", "model 'marts.selfref' reads itself"],
            id="model-that-reads-itself-with-its-line",
        ),
        pytest.param(
            "plan",
            "models/marts/labels.sql",
            "select 'abc as x, order_id\nfrom staging.orders\n",
            ["models/marts/labels.sql:1:8:", "unterminated string literal"],
            id="unterminated-string-where-it-opens",
        ),
        pytest.param(
            "plan",
            "models/marts/ids.sql",
            "selec order_id\nfrom staging.orders\n",
            ["models/marts/ids.sql:1:1:", "SQL syntax error at 'selec'"],
            id="misspelt-keyword-on-its-own-line",
        ),
        pytest.param(
            "plan",
            "models/marts/pairs.py",
            PYTHON_MODEL_WITH_BROKEN_SQL,
            ["models/marts/pairs.py:3", "in ctx.sql(...)", "'on'"],
            id="sql-in-a-python-model-at-the-line-of-the-call",
        ),
    ],
)
def test_broken_sql_is_named_by_file_line_and_text_and_nothing_is_built(
    tmp_path: Path, command: str, path: str, text: str, said: list[str]
) -> None:
    root = write_project(tmp_path, {"models/staging/orders.sql": ORDERS, path: text})
    message = refused(root, command)
    for part in said:
        assert part in message
    assert "does not exist! Did you mean" not in message
    assert not (root / ".headgate/warehouse.duckdb").exists()  # nothing was built


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
