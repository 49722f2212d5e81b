"""Reading custom SQL checks: ``checks/<name>.sql``, a query whose rows are the failures.

A file holds one ``SELECT`` reading models by name, e.g.
``select * from marts.orders where ordered_at > now()``, and optionally a header::

    /* headgate:
    severity: warn
    description: Orders cannot be placed in the future.
    */

The check attaches to the models it reads (found by parsing, as a model's upstreams
are): it runs whenever one of them is audited, against that model's new build. A check
attached to one model is named after its file (``finance.orders_have_customers``); one
attached to several gets a result per model, so each is named ``<name>@<model>``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from sqlglot import exp

from headgate.checks.spec import Check, MaxFailures, Severity
from headgate.checks.types.custom_sql import CustomSqlParams
from headgate.errors import Location, ProjectError, ProjectErrors
from headgate.project.models import DIALECT, syntax_error, table_references
from headgate.project.sqlsyntax import SqlSyntaxError, parse_statements
from headgate.project.textfile import read_text
from headgate.project.yamlfile import parse_yaml

_HEADER = re.compile(r"\A\s*/\*\s*headgate:[ \t]*\n?(?P<body>.*?)\*/", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class CustomCheckHeader(BaseModel):
    """The ``/* headgate: ... */`` block of a custom check file."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    severity: Severity = "error"
    description: str | None = None
    max_failures: Any = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("use letters, digits, '_', '.' or '-'")
        return value

    @field_validator("max_failures")
    @classmethod
    def _count(cls, value: Any) -> Any:
        if value is not None and MaxFailures.parse(value).fraction is not None:
            raise ValueError(
                "a custom check's rows are its failures, with no total to take a share of: "
                "give a count, e.g. 5"
            )
        return value


def parse_custom_checks(root: Path, *, models: Collection[str] | None = None) -> list[Check]:
    """Every ``checks/**/*.sql`` file as checks, one per model the query reads.

    With ``models`` (the project's model names) a check attaches only to the models among
    the tables it reads, and a file reading no model is an error; without it, every
    table read is taken as a model. Raises ProjectError / ProjectErrors with file and line.
    """
    folder = root / "checks"
    if not folder.is_dir():
        return []
    found: list[Check] = []
    errors: list[ProjectError] = []
    for path in sorted(folder.rglob("*.sql")):
        if any(part.startswith((".", "_")) for part in path.relative_to(folder).parts):
            continue
        try:
            found.extend(_parse_file(root, folder, path, models))
        except ProjectError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProjectErrors(errors)
    return found


def _parse_file(
    root: Path, folder: Path, path: Path, models: Collection[str] | None
) -> list[Check]:
    text = read_text(path)
    header = CustomCheckHeader()
    body = text
    match = _HEADER.match(text)
    if match:
        offset = text[: match.start("body")].count("\n")
        document = parse_yaml(match.group("body"), path, line_offset=offset)
        header = document.validate(CustomCheckHeader, "custom check header")
        # blank lines keep the query's line numbers those of the file
        body = "\n" * text[: match.end()].count("\n") + text[match.end() :]
    query = _parse_query(body, path)
    reads, lines = table_references(query)
    if not reads:
        raise ProjectError("a custom check reads no table", Location(path, 1))
    attached = [name for name in reads if models is None or name in models]
    if not attached:
        raise ProjectError(
            f"a custom check reads no model (it reads {', '.join(reads)})",
            Location(path, lines.get(reads[0], 1)),
            hint="a check attaches to the models its query reads",
        )
    relative = path.relative_to(root)
    name = header.name or ".".join(path.relative_to(folder).with_suffix("").parts)
    params = CustomSqlParams(sql=body.strip().rstrip(";").strip(), reads=reads, path=str(relative))
    tolerated = (
        MaxFailures.parse(header.max_failures) if header.max_failures is not None else MaxFailures()
    )
    return [
        Check(
            name=name if len(attached) == 1 else f"{name}@{model}",
            model=model,
            column=None,
            type="custom_sql",
            params=params,
            severity=header.severity,
            max_failures=tolerated,
            description=header.description,
            location=Location(path, lines.get(model, 1)),
        )
        for model in attached
    ]


def _parse_query(text: str, path: Path) -> exp.Query:
    try:
        statements = parse_statements(text, dialect=DIALECT)
    except SqlSyntaxError as exc:
        raise syntax_error(exc.problem, path) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        found = (
            statements[0].key.upper() if len(statements) == 1 else f"{len(statements)} statements"
        )
        raise ProjectError(
            f"a custom check is one SELECT whose rows are the failures; found {found}",
            Location(path, 1),
        )
    return statements[0]
