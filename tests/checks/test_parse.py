"""Reading checks from model files: the YAML shapes, and mistakes named by file and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from headgate.checks.parse import parse_custom_checks, parse_model_checks
from headgate.checks.spec import MaxFailures
from headgate.checks.types.freshness import FreshnessParams
from headgate.checks.types.values import RangeParams
from headgate.errors import ProjectError, ProjectErrors
from headgate.project.loader import load_project
from tests.checks.support import model_checks
from tests.support import write_project

COLUMNS = ["order_id", "line", "status", "amount", "discount", "email", "ordered_at"]


def problem(root: Path, options: str, columns: list[str] | None = None) -> ProjectError:
    with pytest.raises(ProjectError) as caught:
        model_checks(root, options, columns)
    return caught.value


def test_the_documented_shapes_parse_into_typed_checks(tmp_path: Path) -> None:
    options = r"""
    columns:
      order_id:
        checks: [not_null, unique]
      amount:
        checks:
          - range: {min: 0, max: 10000, inclusive: true}
            severity: warn
            where: "status <> 'cancelled'"
            max_failures: 0.1%
            description: Amounts are positive.
          - range: {min: 0, max_inclusive: false, max: 100}
            max_failures: 5
      email:
        checks:
          - regex: {pattern: '^[^@\s]+@[^@\s]+$'}
      ordered_at:
        checks:
          - freshness: {max_age: 2 days}
    checks:
      - row_count: {min: 1, max: 1000000}
      - unique_combination: {columns: [order_id, line]}
      - expression: {sql: "amount >= discount"}
        name: amount_covers_discount
    """
    checks = model_checks(tmp_path, options, COLUMNS)
    assert [c.name for c in checks] == [
        "staging.orders.order_id.not_null",
        "staging.orders.order_id.unique",
        "staging.orders.amount.range",
        "staging.orders.amount.range_2",
        "staging.orders.email.regex",
        "staging.orders.ordered_at.freshness",
        "staging.orders.row_count",
        "staging.orders.unique_combination",
        "amount_covers_discount",
    ]
    first_range = checks[2]
    assert first_range.severity == "warn"
    assert first_range.where == "status <> 'cancelled'"
    assert first_range.max_failures == MaxFailures(count=None, fraction=0.001)
    assert first_range.description == "Amounts are positive."
    assert isinstance(first_range.params, RangeParams) and first_range.params.max == 10000
    second = checks[3].params
    assert isinstance(second, RangeParams)
    assert (second.lower_inclusive, second.upper_inclusive) == (True, False)
    assert checks[3].max_failures == MaxFailures(count=5)
    fresh = checks[5].params
    assert isinstance(fresh, FreshnessParams) and fresh.max_age == timedelta(days=2)
    assert checks[0].location is not None
    assert checks[0].location.line == 4  # the header's first line is line 1 of the file
    assert checks[2].location is not None and checks[2].location.line == 7


def test_unknown_check_type_names_the_line_and_the_known_types(tmp_path: Path) -> None:
    error = problem(tmp_path, "columns:\n  amount:\n    checks: [not_nul]\n")
    assert error.location is not None
    assert error.location.path == tmp_path / "models/staging/orders.sql"
    assert error.location.line == 4
    assert "unknown check type 'not_nul'" in error.message
    assert error.hint is not None
    assert "did you mean 'not_null'" in error.hint and "accepted_values" in error.hint
    files_only = problem(tmp_path, "checks:\n  - custom_sql: {sql: select 1}\n")
    assert "unknown check type 'custom_sql'" in files_only.message
    assert files_only.hint is not None and "checks/<name>.sql" in files_only.hint


@pytest.mark.parametrize(
    ("check", "message", "allowed"),
    [
        ("range: {minimum: 0}", "range: unknown parameter 'minimum'", "min, max, inclusive"),
        ("range: {}", "give min, max or both", "min_inclusive"),
        ("range", "range needs parameters", "e.g. - range: {min: 0"),
        ("length: {min: -1}", "length: min: Input should be greater than or equal to 0", "max"),
        ("accepted_values: {values: []}", "accepted_values: values:", "values"),
        ("accepted_values: {values: [a, null]}", "null", "values"),
        ("freshness: {max_age: 2 fortnights}", "'2 days', '36h'", "max_age"),
        ("freshness: {max_age: 36}", "write a duration with a unit", "max_age"),
        ("regex: [a]", "regex takes a mapping of parameters", "pattern"),
        ("relationships: {to: staging.customers}", "missing parameter 'column'", "to, column"),
    ],
)
def test_malformed_parameters_say_what_is_allowed(
    tmp_path: Path, check: str, message: str, allowed: str
) -> None:
    error = problem(tmp_path, f"columns:\n  amount:\n    checks:\n      - {check}\n")
    assert message in error.message
    assert error.hint is not None and allowed in error.hint
    assert error.location is not None and error.location.line == 5


@pytest.mark.parametrize(
    ("extra", "message", "line"),
    [
        ("max_failures: 0.5", "max_failures is a count (e.g. 5) or a percentage", 6),
        ("max_failures: 120%", "between 0% and 100%", 6),
        ("severity: fatal", "option 'severity'", 6),
        ('where: "status <>"', "not a valid SQL expression", 6),
        ("severty: warn", "unknown check type 'severty'", 6),
        ("not_null:", "one check per list item", 5),
    ],
)
def test_malformed_options_name_their_line(
    tmp_path: Path, extra: str, message: str, line: int
) -> None:
    options = f"columns:\n  amount:\n    checks:\n      - range: {{min: 0}}\n        {extra}\n"
    error = problem(tmp_path, options)
    assert message in error.message
    assert error.location is not None and error.location.line == line


def test_checks_declared_at_the_wrong_level(tmp_path: Path) -> None:
    on_column = problem(tmp_path, "columns:\n  amount:\n    checks:\n      - row_count: {min: 1}\n")
    assert "row_count checks the whole model" in on_column.message
    on_model = problem(tmp_path, "checks: [not_null]\n")
    assert on_model.message.endswith("not_null checks one column")
    assert on_model.hint is not None and "columns: <column>: checks:" in on_model.hint
    tolerance = problem(tmp_path, "checks:\n  - row_count: {min: 1}\n    max_failures: 3\n")
    assert "does not count failing rows" in tolerance.message
    contract_where = problem(
        tmp_path, "checks:\n  - contract: {columns: {a: int}}\n    where: 'a > 1'\n"
    )
    assert "contract does not take 'where'" in contract_where.message


def test_columns_that_do_not_exist_are_reported_with_close_names(tmp_path: Path) -> None:
    options = """
    columns:
      amout:
        checks: [not_null]
      email:
        checks:
          - not_null:
            where: "statuss = 'x'"
    checks:
      - unique_combination: {columns: [order_id, lines]}
      - expression: {sql: "amount >= discont"}
      - expression: {sql: "amount >= (select max(x) from other)"}
    """
    with pytest.raises(ProjectErrors) as caught:
        model_checks(tmp_path, options, COLUMNS)
    errors = caught.value.errors
    assert [e.location.line for e in errors if e.location] == [3, 8, 10, 11]
    assert errors[0].message.endswith("column 'amout' does not exist in staging.orders")
    assert errors[0].hint is not None and errors[0].hint.startswith("did you mean amount?")
    assert "'statuss'" in errors[1].message
    assert "'lines'" in errors[2].message and "line" in (errors[2].hint or "")
    assert "'discont'" in errors[3].message
    # without the built table's columns nothing is known yet, so nothing is reported
    assert len(model_checks(tmp_path, options)) == 5


def test_column_names_take_the_tables_spelling(tmp_path: Path) -> None:
    options = """
    columns:
      Amount:
        checks: [not_null]
    checks:
      - unique_combination: {columns: [ORDER_ID, Line]}
    """
    checks = model_checks(tmp_path, options, COLUMNS)
    assert checks[0].column == "amount"
    assert checks[0].name == "staging.orders.amount.not_null"
    assert checks[1].params.columns == ["order_id", "line"]  # type: ignore[union-attr]


def test_check_names_are_unique_per_model(tmp_path: Path) -> None:
    options = """
    checks:
      - row_count: {min: 1}
        name: enough_rows
      - row_count: {max: 10}
        name: enough_rows
    """
    error = problem(tmp_path, options)
    assert "two checks of staging.orders are named 'enough_rows'" in error.message
    assert error.location is not None and error.location.line == 6


def test_sidecar_errors_point_at_the_sidecar(tmp_path: Path) -> None:
    options = "description: Orders.\ncolumns:\n  amount:\n    checks:\n      - range: {mn: 0}\n"
    with pytest.raises(ProjectError) as caught:
        model_checks(tmp_path, options, sidecar=True)
    location = caught.value.location
    assert location is not None
    assert (location.path, location.line) == (tmp_path / "models/staging/orders.yml", 5)
    assert str(caught.value).startswith(f"{tmp_path / 'models/staging/orders.yml'}:5: ")


def test_checks_of_a_loaded_project(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "models/staging/orders.sql": """
                /* headgate:
                columns:
                  id:
                    checks: [not_null, unique]
                checks:
                  - monitor: {metric: row_count}
                  - row_count: {min: 1}
                */
                select 1 as id
            """,
            "models/staging/customers.sql": "select 1 as id\n",
            "models/staging/plain.sql": "select 1 as id\n",
            "models/staging/customers.yml": "columns:\n  id:\n    checks:\n      - uniq\n",
        },
    )
    project = load_project(root)
    orders = parse_model_checks(project.models["staging.orders"], root, ["id"])
    assert [(c.type, c.column) for c in orders] == [
        ("not_null", "id"),
        ("unique", "id"),
        ("monitor", None),
        ("row_count", None),
    ]
    assert orders[2].params == {"metric": "row_count"}
    with pytest.raises(ProjectError) as caught:
        parse_model_checks(project.models["staging.customers"], root, ["id"])
    assert str(caught.value).startswith(f"{root / 'models/staging/customers.yml'}:4: ")
    assert parse_model_checks(project.models["staging.plain"], root, ["id"]) == []


def test_custom_sql_checks(tmp_path: Path) -> None:
    checks_dir = tmp_path / "checks"
    (checks_dir / "finance").mkdir(parents=True)
    (checks_dir / "no_negative_amounts.sql").write_text(
        "/* headgate:\nseverity: warn\ndescription: Refunds are separate.\nmax_failures: 3\n*/\n"
        "select * from staging.orders where amount < 0;\n"
    )
    (checks_dir / "finance" / "orders_have_customers.sql").write_text(
        "select o.* from staging.orders o\n"
        "left join staging.customers c using (customer_id)\n"
        "where c.customer_id is null\n"
    )
    (checks_dir / "_draft.sql").write_text("not sql at all")
    checks = parse_custom_checks(tmp_path)
    assert [(c.name, c.model, c.severity) for c in checks] == [
        ("finance.orders_have_customers@staging.orders", "staging.orders", "error"),
        ("finance.orders_have_customers@staging.customers", "staging.customers", "error"),
        ("no_negative_amounts", "staging.orders", "warn"),
    ]
    negative = checks[2]
    assert negative.max_failures == MaxFailures(count=3)
    assert negative.description == "Refunds are separate."
    assert negative.location is not None and negative.location.line == 6
    assert negative.params.sql == (  # type: ignore[union-attr]
        "select * from staging.orders where amount < 0"
    )
    only_models = parse_custom_checks(tmp_path, models={"staging.orders"})
    assert [c.model for c in only_models] == ["staging.orders", "staging.orders"]
    assert only_models[0].name == "finance.orders_have_customers"  # one model: the file's name


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("select * from\nstaging.orders where (\n", "SQL syntax error", 2),
        ("delete from staging.orders", "one SELECT whose rows are the failures", 1),
        ("/* headgate:\nseverity: high\n*/\nselect 1 from staging.orders", "severity", 2),
        ("/* headgate:\nmax_failures: 1%\n*/\nselect 1 from staging.orders", "give a count", 2),
        ("select 1 from raw.events", "reads no model (it reads raw.events)", 1),
    ],
)
def test_custom_sql_mistakes_name_file_and_line(
    tmp_path: Path, text: str, message: str, line: int
) -> None:
    (tmp_path / "checks").mkdir()
    path = tmp_path / "checks" / "broken.sql"
    path.write_text(text)
    with pytest.raises(ProjectError) as caught:
        parse_custom_checks(tmp_path, models={"staging.orders"})
    assert message in caught.value.message
    assert caught.value.location is not None
    assert (caught.value.location.path, caught.value.location.line) == (path, line)
