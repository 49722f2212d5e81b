"""The benchmark's table and its 40 checks, written once and translated for each tool.

The table is made inside DuckDB from ``range(R)``: ten columns of the kinds a fact
table has, with a small, deterministic share of planted problems (NULL customers,
zero quantities, negative amounts, an unknown status, malformed and duplicated emails,
duplicated order lines, future timestamps, lower-case category codes), so that about a
quarter of the checks fail and every tool has something to find.

Each check is a :class:`Spec`: headgate's check type and parameters, plus an optional
row filter (``where``: one column equal to one value, which every tool can express).
From it come headgate's YAML block (parsed by headgate itself from a model file),
Great Expectations' expectations and a SodaCL checks file. A check a tool cannot
express is listed with the reason, and is left out of that tool's run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import yaml

TABLE_COLUMNS = (
    "id",
    "order_id",
    "line",
    "customer_id",
    "quantity",
    "amount",
    "status",
    "email",
    "created_at",
    "category",
)
STATUSES = ["placed", "shipped", "delivered", "returned", "cancelled"]
DOMAINS = ["example.com", "mail.test", "corp.example.org"]
EMAIL_PATTERN = r"^[^@ ]+@[^@ ]+\.[a-z]+$"
CATEGORY_PATTERN = r"^C[0-9]{3}$"
SPAN_SECONDS = 400 * 86400  # created_at goes back 400 days from the generation time
EARLIEST = datetime(2020, 1, 1)
MAX_AGE = timedelta(days=1)  # freshness: "1 day" for headgate, "< 1d" in SodaCL


def table_sql(rows: int, now: datetime, target: str) -> str:
    """CREATE TABLE ``target`` AS the benchmark's rows (DuckDB SQL), with planted problems."""
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    domains = ", ".join(f"'{d}'" for d in DOMAINS)
    stamp = now.isoformat(sep=" ")
    return f"""
CREATE TABLE {target} AS
SELECT
  i AS id,
  i // 4 AS order_id,
  CAST(CASE WHEN i % 100000 = 1 THEN 1 ELSE i % 4 + 1 END AS INTEGER) AS line,
  CASE WHEN i % 9973 = 17 THEN NULL ELSE 1 + (i * 7919) % 1000000 END AS customer_id,
  CAST(CASE WHEN i % 7919 = 3 THEN 0 ELSE 1 + (i * 31) % 20 END AS INTEGER) AS quantity,
  CAST(CASE WHEN i % 10007 = 5 THEN -1 ELSE 1 END * ((i * 37) % 100000) / 100.0 AS DOUBLE)
    AS amount,
  CASE WHEN i % 50021 = 7 THEN 'unknown' ELSE [{statuses}][1 + (i * 7) % 5] END AS status,
  CASE
    WHEN i % 20011 = 3 THEN 'user' || i || '.' || [{domains}][1 + i % 3]
    WHEN i % 99991 = 9 THEN 'user' || (i - 1) || '@' || [{domains}][1 + (i - 1) % 3]
    ELSE 'user' || i || '@' || [{domains}][1 + i % 3]
  END AS email,
  CASE
    WHEN i % 99989 = 13 THEN TIMESTAMP '{stamp}' + INTERVAL 30 DAY
    ELSE TIMESTAMP '{stamp}' - to_seconds((i * 3) % {SPAN_SECONDS})
  END AS created_at,
  CASE WHEN i % 30011 = 2 THEN 'c' ELSE 'C' END
    || lpad(CAST((i * 13) % 500 AS VARCHAR), 3, '0') AS category
FROM range({rows}) AS t(i)
"""


@dataclass(frozen=True)
class Spec:
    """One check as headgate declares it; the other tools' forms are derived from it."""

    name: str
    type: str
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    where: tuple[str, str] | None = None  # (column, value): rows where column = 'value'
    max_failures: str | None = None  # a percentage, e.g. '1%'
    severity: str = "error"

    def where_sql(self) -> str | None:
        return None if self.where is None else f"{self.where[0]} = '{self.where[1]}'"


def build_specs(rows: int, now: datetime) -> list[Spec]:
    """The 40 checks, spread over the ten columns and the table."""
    newest_allowed = now + timedelta(days=1)
    found: list[Spec] = []

    def add(type_: str, column: str | None = None, **options: Any) -> None:
        label = ".".join(p for p in (column, type_) if p)
        name = f"c{len(found) + 1:02d}.{label}"
        params = options.pop("params", {})
        found.append(Spec(name, type_, column, params, **options))

    add("not_null", "id")
    add("unique", "id")
    add("range", "id", params={"min": 0})
    add("not_null", "order_id")
    add("range", "order_id", params={"min": 0})
    add("not_null", "line")
    add("accepted_values", "line", params={"values": [1, 2, 3, 4]})
    add("range", "line", params={"min": 1, "max": 4})
    add("not_null", "customer_id")
    add("not_null", "customer_id", max_failures="0.1%")
    add("range", "customer_id", params={"min": 1, "max": 1_000_000})
    add("not_null", "quantity")
    add("range", "quantity", params={"min": 1, "max": 100})
    add("not_null", "amount")
    add("range", "amount", params={"min": 0})
    add("range", "amount", params={"min": 0}, max_failures="1%")
    add("range", "amount", params={"max": 100_000})
    add("not_null", "status")
    add("accepted_values", "status", params={"values": STATUSES})
    add("length", "status", params={"min": 4, "max": 9})
    add("regex", "status", params={"pattern": "^[a-z]+$"})
    add("not_null", "email")
    add("unique", "email")
    add("regex", "email", params={"pattern": EMAIL_PATTERN})
    add("length", "email", params={"min": 6, "max": 254})
    add("not_null", "email", where=("status", "shipped"))
    add("not_null", "created_at")
    add("freshness", "created_at", params={"max_age": "1 day"})
    add("range", "created_at", params={"min": EARLIEST, "max": newest_allowed})
    add("not_null", "category")
    add("regex", "category", params={"pattern": CATEGORY_PATTERN}, severity="warn")
    add("length", "category", params={"min": 4, "max": 4})
    add("row_count", params={"min": 1})
    add("row_count", params={"min": rows, "max": rows})
    add("unique_combination", params={"columns": ["order_id", "line"]})
    add("unique_combination", params={"columns": ["customer_id", "created_at"]})
    add("expression", params={"sql": "order_id <= id"})
    add("expression", params={"sql": "amount <= quantity * 1000"})
    add("expression", params={"sql": "length(email) > length(category)"})
    add("range", "customer_id", params={"min": 1, "max": 1_000_000}, where=("status", "returned"))
    return found


# ---------------------------------------------------------------- headgate


def headgate_yaml(specs: list[Spec]) -> str:
    """The model's options block, as a user writes it: column checks, then table checks."""
    columns: dict[str, dict[str, list[dict[str, Any]]]] = {}
    table: list[dict[str, Any]] = []
    for spec in specs:
        entry: dict[str, Any] = {spec.type: spec.params or None, "name": spec.name}
        if spec.where is not None:
            entry["where"] = spec.where_sql()
        if spec.max_failures is not None:
            entry["max_failures"] = spec.max_failures
        if spec.severity != "error":
            entry["severity"] = spec.severity
        if spec.column is None:
            table.append(entry)
        else:
            columns.setdefault(spec.column, {"checks": []})["checks"].append(entry)
    return yaml.safe_dump({"columns": columns, "checks": table}, sort_keys=False, width=100)


def headgate_model(specs: list[Spec], source: str) -> str:
    """A model file: the options block in its header, then the query."""
    return f"/* headgate:\n{headgate_yaml(specs)}*/\nselect * from {source}\n"


# ---------------------------------------------------------------- Great Expectations

GX_NONE = {
    "expression": "no row-wise SQL expression on a pandas datasource "
    "(UnexpectedRowsExpectation is SQL-only)",
}


def _stamp(value: Any) -> Any:
    """JSON-safe: datetimes travel as {"$datetime": iso}."""
    return {"$datetime": value.isoformat()} if isinstance(value, datetime) else value


GX_CLASSES = {
    "not_null": "ExpectColumnValuesToNotBeNull",
    "unique": "ExpectColumnValuesToBeUnique",
    "accepted_values": "ExpectColumnValuesToBeInSet",
    "range": "ExpectColumnValuesToBeBetween",
    "regex": "ExpectColumnValuesToMatchRegex",
    "length": "ExpectColumnValueLengthsToBeBetween",
    "row_count": "ExpectTableRowCountToBeBetween",
    "freshness": "ExpectColumnMaxToBeBetween",
    "unique_combination": "ExpectCompoundColumnsToBeUnique",
}
# The one expression of the 40 that a column-pair expectation states: id >= order_id.
GX_PAIRS = {"order_id <= id": {"column_A": "id", "column_B": "order_id", "or_equal": True}}


def _gx_kwargs(spec: Spec, now: datetime) -> dict[str, Any]:
    p = spec.params
    column: dict[str, Any] = {"column": spec.column} if spec.column else {}
    if spec.type == "accepted_values":
        return {**column, "value_set": p["values"]}
    if spec.type in ("range", "length", "row_count"):
        return {**column, "min_value": _stamp(p.get("min")), "max_value": _stamp(p.get("max"))}
    if spec.type == "regex":
        return {**column, "regex": p["pattern"]}
    if spec.type == "freshness":  # the newest value at most MAX_AGE old
        return {**column, "min_value": _stamp(now - MAX_AGE)}
    if spec.type == "unique_combination":
        return {"column_list": p["columns"]}
    return column


def gx_expectation(spec: Spec, now: datetime) -> tuple[str, dict[str, Any]] | str:
    """(expectation class, keyword arguments), or the reason there is no equivalent."""
    if spec.type == "expression":
        if spec.params["sql"] not in GX_PAIRS:
            return GX_NONE["expression"]
        found = ("ExpectColumnPairValuesAToBeGreaterThanB", GX_PAIRS[spec.params["sql"]])
    elif spec.type in GX_CLASSES:
        found = (GX_CLASSES[spec.type], _gx_kwargs(spec, now))
    else:
        return f"no equivalent of {spec.type}"
    kwargs = {k: v for k, v in found[1].items() if v is not None}
    if spec.max_failures is not None:
        kwargs["mostly"] = 1 - float(spec.max_failures.rstrip("%")) / 100
    if spec.where is not None:
        kwargs["row_condition"] = {"column": spec.where[0], "equals": spec.where[1]}
    return found[0], kwargs


def gx_plan(specs: list[Spec], now: datetime) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The expectations to run (by check name), and the checks left out with the reason."""
    plan, missing = [], {}
    for spec in specs:
        found = gx_expectation(spec, now)
        if isinstance(found, str):
            missing[spec.name] = found
        else:
            plan.append({"name": spec.name, "class": found[0], "kwargs": found[1]})
    return plan, missing


# ---------------------------------------------------------------- Soda Core (SodaCL)


def sql_time(value: datetime) -> str:
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def _valid(spec: Spec) -> dict[str, Any]:
    """SodaCL's validity configuration for a value check."""
    p = spec.params
    if spec.type == "accepted_values":
        return {"valid values": p["values"]}
    if spec.type == "regex":
        return {"valid regex": p["pattern"]}
    if spec.type == "length":
        return {"valid min length": p["min"], "valid max length": p["max"]}
    bounds = {"valid min": p.get("min"), "valid max": p.get("max")}
    return {k: v for k, v in bounds.items() if v is not None}


def _failed_rows(condition: str) -> tuple[str, dict[str, Any]]:
    return "failed rows", {"fail condition": condition}


def soda_check(spec: Spec) -> tuple[str, dict[str, Any]]:
    """(the SodaCL check line, its configuration) for one spec."""
    column, p = spec.column, spec.params
    share = None if spec.max_failures is None else float(spec.max_failures.rstrip("%"))
    config: dict[str, Any] = {}
    if spec.type == "not_null":
        line = f"missing_count({column}) = 0"
        if share is not None:
            line = f"missing_percent({column}) <= {share:g}"
    elif spec.type == "unique":
        line = f"duplicate_count({column}) = 0"
    elif spec.type == "range" and isinstance(p.get("min", p.get("max")), datetime):
        bounds = [("<", p.get("min")), (">", p.get("max"))]
        outside = [f"{column} {op} {sql_time(v)}" for op, v in bounds if v is not None]
        line, config = _failed_rows(" OR ".join(outside))
    elif spec.type in ("accepted_values", "range", "regex", "length"):
        line = f"invalid_count({column}) = 0"
        if share is not None:
            line = f"invalid_percent({column}) <= {share:g}"
        config = _valid(spec)
    elif spec.type == "freshness":
        line = f"freshness({column}) < 1d"
    elif spec.type == "row_count":
        line = f"row_count >= {p['min']}"
        if p.get("max") is not None:
            line = f"row_count between {p['min']} and {p['max']}"
    elif spec.type == "unique_combination":
        line = f"duplicate_count({', '.join(p['columns'])}) = 0"
    elif spec.type == "expression":
        line, config = _failed_rows(f"NOT ({p['sql']})")
    else:
        raise ValueError(f"no SodaCL form for {spec.type}")
    if spec.where is not None:
        config["filter"] = spec.where_sql()
    if spec.severity == "warn":
        line, config = _as_warning(line, config)
    return line, {"name": spec.name, **config}


def _as_warning(line: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``metric = 0`` that warns instead of failing: ``metric`` with ``warn: when > 0``."""
    metric, _, _ = line.partition(" = ")
    return metric, {**config, "warn": "when > 0"}


SODA_NOTES = {
    "range on a timestamp": "no valid min/max for timestamps: a failed-rows check with the "
    "condition instead",
    "expression": "a failed-rows check with fail condition NOT (expression)",
    "unique": "duplicate_count counts repeated values, not the rows holding them; "
    "zero means the same",
}


def soda_checks_yaml(specs: list[Spec], table: str) -> str:
    """The SodaCL file: every check, by name, for ``table``."""
    entries = []
    for spec in specs:
        line, config = soda_check(spec)
        entries.append({line: config})
    return yaml.safe_dump({f"checks for {table}": entries}, sort_keys=False, width=200)
