"""``contract``: the exact columns and types a model promises its readers.

The table's columns come from the engine's catalog (``information_schema.columns``, which
DuckDB and PostgreSQL both keep), not from reading data. Types are compared normalized
through sqlglot, so ``INT8`` is ``BIGINT``, ``FLOAT8`` and ``double precision`` are
``DOUBLE`` and ``TEXT`` is ``VARCHAR``. Precision and nested types are compared only when
the contract spells them (``decimal(18,2)``), since catalogs differ in reporting them.
Any added, removed or retyped column fails the check until the contract is updated.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from sqlglot import exp
from sqlglot.errors import SqlglotError

from headgate.checks import text
from headgate.checks.evaluation import CheckEvaluationError, QueryCheckType, RunContext, Verdict
from headgate.checks.spec import Check, CheckParams, register
from headgate.project.models import DIALECT

_SAME = {
    exp.DataType.Type.TEXT: exp.DataType.Type.VARCHAR,
    exp.DataType.Type.NVARCHAR: exp.DataType.Type.VARCHAR,
    exp.DataType.Type.NAME: exp.DataType.Type.VARCHAR,
}


def normalized(type_text: str, dialect: str) -> tuple[str, str | None]:
    """(type family, full spelling or None): ``int8`` -> ("BIGINT", None)."""
    try:
        built = exp.DataType.build(type_text, dialect=dialect)
    except (SqlglotError, ValueError):
        return type_text.strip().upper(), None
    family = _SAME.get(built.this, built.this).name
    detailed = any(mark in type_text for mark in "([<") and bool(built.expressions)
    return family, built.sql(dialect="duckdb") if detailed else None


def same_type(contract: str, actual: str, dialect: str) -> bool:
    want_family, want_detail = normalized(contract, dialect)
    have_family, have_detail = normalized(actual, dialect)
    if want_family != have_family:
        return False
    return want_detail is None or have_detail is None or want_detail == have_detail


class ContractParams(CheckParams):
    columns: dict[str, str] = Field(min_length=1, description="column name -> SQL type")

    @field_validator("columns")
    @classmethod
    def _types_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for column, type_text in value.items():
            try:
                exp.DataType.build(type_text, dialect=DIALECT)
            except (SqlglotError, ValueError):
                raise ValueError(
                    f"column {column}: '{type_text}' is not a SQL type "
                    "(e.g. bigint, double, varchar, decimal(18,2), timestamp)"
                ) from None
        return value


@register
class Contract(QueryCheckType):
    name = "contract"
    params_model = ContractParams
    scopes = frozenset({"model"})
    takes_where = False
    row_level = False
    example = "contract: {columns: {order_id: bigint, amount: double}}"

    def evaluate(self, check: Check, run: RunContext) -> Verdict:
        params = check.params
        assert isinstance(params, ContractParams)
        query, dialect = run.sql.render(catalog_query(run.sql.table)), run.sql.dialect
        if dialect == "spark":  # no information_schema: Spark's catalog, in DuckDB's spelling
            query, dialect = f"DESCRIBE TABLE {run.sql.table}", "duckdb"
            found = [
                (name, _in_duckdb(kind)) for name, kind in run.session.columns_of(run.sql.table)
            ]
        else:
            found = run.execute(query)
        actual = {str(name).lower(): (str(name), str(kind)) for name, kind in found}
        if not actual:
            raise CheckEvaluationError(f"table {run.sql.table} has no columns in the catalog")
        promised = {name.lower(): (name, kind) for name, kind in params.columns.items()}
        differences: list[dict[str, Any]] = []
        for key, (name, kind) in actual.items():
            if key not in promised:
                differences.append(_difference(name, "added", None, kind))
        for key, (name, kind) in promised.items():
            if key not in actual:
                differences.append(_difference(name, "removed", kind, None))
            elif not same_type(kind, actual[key][1], dialect):
                differences.append(_difference(name, "retyped", kind, actual[key][1]))
        threshold = f"exactly the contract's {len(promised)} columns and their types"
        if not differences:
            message = f"{len(actual)} columns match the contract"
            return Verdict(True, message, threshold, sql=query)
        described = [_describe(d) for d in differences]
        message = (
            f"{len(differences)} difference{'s' if len(differences) > 1 else ''} from the "
            f"contract: {text.sentence_list(described, 6)}; update the contract if intended"
        )
        return Verdict(False, message, threshold, sql=query, sample=differences)


def catalog_query(table: str) -> exp.Select:
    """The table's columns and types, in order, from ``information_schema.columns``."""
    parts = table.split(".")
    conditions: list[exp.Expr] = [exp.column("table_name").eq(exp.Literal.string(parts[-1]))]
    if len(parts) > 1:
        conditions.append(exp.column("table_schema").eq(exp.Literal.string(parts[-2])))
    else:
        conditions.append(exp.column("table_schema").eq(exp.func("current_schema")))
    if len(parts) > 2:
        conditions.append(exp.column("table_catalog").eq(exp.Literal.string(".".join(parts[:-2]))))
    return (
        exp.select("column_name", "data_type")
        .from_(exp.table_("columns", db="information_schema"))
        .where(exp.and_(*conditions))
        .order_by("ordinal_position")
    )


def _in_duckdb(spark_type: str) -> str:
    """A Spark type as DuckDB spells it: ``TIMESTAMP_NTZ`` is ``TIMESTAMP``, ``STRING`` text."""
    try:
        return exp.DataType.build(spark_type, dialect="spark").sql(dialect="duckdb")
    except (SqlglotError, ValueError):
        return spark_type


def _difference(
    column: str, change: str, contract: str | None, actual: str | None
) -> dict[str, Any]:
    return {"column": column, "change": change, "contract": contract, "actual": actual}


def _describe(difference: dict[str, Any]) -> str:
    column = difference["column"]
    if difference["change"] == "added":
        return f"new column {column} ({difference['actual']})"
    if difference["change"] == "removed":
        return f"missing column {column} ({difference['contract']})"
    return f"{column} is {difference['actual']}, the contract says {difference['contract']}"
