"""Reading model files: SQL and Python, their options, and the tables they read.

A model's name is its path under ``models/`` (``models/staging/orders.sql`` is
``staging.orders``). Upstream models are found by parsing: the tables a SQL
model's query reads, or the ``ctx.ref("...")`` calls of a Python model. Nothing
is templated, so a SQL model stays plain SQL that any editor understands.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from headgate.errors import Location, ProjectError
from headgate.project.config import ModelOptions
from headgate.project.sqlsyntax import (
    SYNTAX_HINT,
    SqlSyntaxError,
    SqlSyntaxProblem,
    parse_statements,
)
from headgate.project.yamlfile import YamlDocument, parse_yaml

DIALECT = "duckdb"
PARSE_FORMAT = "3"  # bump when ParsedModel changes shape: old caches are then ignored
_GENERATOR_DIALECT = Dialect.get_or_raise(DIALECT)
_SQL_HEADER = re.compile(r"\A\s*/\*\s*headgate:[ \t]*\n?(?P<body>.*?)\*/", re.DOTALL)


@dataclass
class ParsedModel:
    """What parsing one model file yields; cached by the file's content hash."""

    name: str
    path: Path  # relative to the project root
    language: str  # "sql" | "python"
    options: ModelOptions
    normalized: str  # SQL without comments or layout, or the Python AST dump
    references: list[str]  # table names read, lower-cased, as written (resolved later)
    reference_lines: dict[str, int] = field(default_factory=dict)
    content_hash: str = ""
    options_file: Path | None = None  # where the options were written (the file or its sidecar)
    option_lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)  # key path -> line


def model_name(relative: Path) -> str:
    """``staging/orders.sql`` -> ``staging.orders``."""
    return ".".join(relative.with_suffix("").parts).lower()


def content_hash(*texts: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def parse_model_file(
    root: Path, relative: Path, text: str, sidecar: str | None, dialect: str = DIALECT
) -> ParsedModel:
    """Parse one model file (``relative`` to ``root``) with its sidecar's text, if any.

    SQL is read in the project's ``dialect`` and kept in DuckDB's, headgate's own, from
    which every engine's is rendered; a construct that has no DuckDB form is an error here.
    """
    path = root / relative
    name = model_name(relative.relative_to("models"))
    if relative.suffix == ".sql":
        header = _sql_header(text, path)
        options, doc = _options(header, sidecar, path)
        normalized, refs, lines = parse_sql(text, path, dialect)
        language = "sql"
    else:
        header = _python_header(text, path)
        options, doc = _options(header, sidecar, path)
        normalized, refs, lines = _parse_python(text, path)
        language = "python"
    refs = sorted(set(refs) | {d.lower() for d in options.depends_on})
    return ParsedModel(
        name=name,
        path=relative,
        language=language,
        options=options,
        normalized=normalized,
        references=refs,
        reference_lines=lines,
        content_hash=content_hash(text, sidecar or ""),
        options_file=doc.path if doc else None,
        option_lines={k: v + doc.line_offset for k, v in doc.lines.items()} if doc else {},
    )


def parse_sql(
    text: str, path: Path, dialect: str = DIALECT
) -> tuple[str, list[str], dict[str, int]]:
    """Normalized SQL and the tables it reads. Syntax errors name file, line, column and text."""
    try:
        statements = parse_statements(text, dialect=dialect)
    except SqlSyntaxError as exc:
        raise syntax_error(exc.problem, path) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        found = (
            statements[0].key.upper() if len(statements) == 1 else f"{len(statements)} statements"
        )
        raise ProjectError(
            f"a model is one SELECT query; found {found}",
            Location(path, 1),
            hint="write the query only: headgate creates the table or view itself",
        )
    query = statements[0]
    refs, lines = table_references(query)
    if dialect != DIALECT:
        return _from_dialect(query, dialect, path), refs, lines
    # copy=False: the tree is ours and thrown away; copying it costs a sixth of a load
    return _GENERATOR_DIALECT.generate(query, copy=False, comments=False), refs, lines


def _from_dialect(query: exp.Expr, dialect: str, path: Path) -> str:
    """A query read in another dialect, written in DuckDB's; what cannot be is named."""
    from sqlglot.errors import ErrorLevel, UnsupportedError

    try:
        return str(
            Dialect.get_or_raise(DIALECT).generate(
                query, copy=False, comments=False, unsupported_level=ErrorLevel.RAISE
            )
        )
    except UnsupportedError as exc:
        raise ProjectError(
            f"this {dialect} SQL has no DuckDB equivalent: {str(exc).splitlines()[0]}",
            Location(path, 1),
            hint="write that part differently, or set dialect: duckdb in headgate.yml",
        ) from None


def table_references(query: exp.Query | exp.Expression) -> tuple[list[str], dict[str, int]]:
    """Names of real tables a query reads: CTE names and table functions are not tables."""
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    refs: list[str] = []
    lines: dict[str, int] = {}
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # read_parquet('...'), range(10), unnest(...)
        name = qualified_name(table)
        if not table.db and name in ctes:
            continue
        if name not in lines:
            refs.append(name)
            lines[name] = table.this.meta.get("line", 0)
    return refs, lines


def qualified_name(table: exp.Table) -> str:
    return ".".join(p for p in (table.catalog, table.db, table.name) if p).lower()


def syntax_error(problem: SqlSyntaxProblem, path: Path) -> ProjectError:
    """A SQL syntax problem in a project file, at its line and column."""
    return ProjectError(
        problem.message(), Location(path, problem.line, problem.column), hint=SYNTAX_HINT
    )


def _sql_header(text: str, path: Path) -> YamlDocument | None:
    match = _SQL_HEADER.match(text)
    if not match:
        return None
    offset = text[: match.start("body")].count("\n")
    return parse_yaml(match.group("body"), path, line_offset=offset)


def _python_header(text: str, path: Path) -> YamlDocument | None:
    try:
        module = ast.parse(text)
    except SyntaxError:
        return None  # reported by _parse_python with its line
    doc = ast.get_docstring(module, clean=False)
    if not doc or not doc.lstrip().startswith("headgate:"):
        return None
    body = doc.lstrip()[len("headgate:") :]
    first = module.body[0]
    return parse_yaml(body.lstrip("\n"), path, line_offset=first.lineno)


def _options(
    header: YamlDocument | None, sidecar: str | None, path: Path
) -> tuple[ModelOptions, YamlDocument | None]:
    if header is not None and sidecar is not None:
        raise ProjectError(
            "options are given twice: in the file's header block and in its sidecar .yml",
            Location(path.with_suffix(".yml")),
            hint="keep one of them",
        )
    doc = header
    if sidecar is not None:
        doc = parse_yaml(sidecar, path.with_suffix(".yml"))
    if doc is None:
        return ModelOptions(), None
    options: ModelOptions = doc.validate(ModelOptions, "model options")
    return options, doc


def _parse_python(text: str, path: Path) -> tuple[str, list[str], dict[str, int]]:
    try:
        module = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise ProjectError(
            f"Python syntax error: {exc.msg}", Location(path, exc.lineno or 0, exc.offset or 0)
        ) from None
    functions = {n.name: n for n in module.body if isinstance(n, ast.FunctionDef)}
    if "model" not in functions:
        raise ProjectError(
            "a Python model defines `def model(ctx)` returning an Arrow table "
            "or a pandas/polars DataFrame",
            Location(path, 1),
        )
    refs: list[str] = []
    lines: dict[str, int] = {}
    for call in ast.walk(module):
        for name, line in _ctx_references(call, path):
            if name not in lines:
                refs.append(name)
                lines[name] = line
    body = module.body[1:] if ast.get_docstring(module) is not None else module.body
    normalized = json.dumps([ast.dump(node) for node in body])
    return normalized, refs, lines


def _ctx_references(node: ast.AST, path: Path) -> list[tuple[str, int]]:
    """``ctx.ref("a.b")`` reads model a.b; ``ctx.sql("...")`` reads the tables in its SQL."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"ref", "sql"}
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return []
    value: str = node.args[0].value
    if node.func.attr == "ref":
        return [(value.lower(), node.lineno)]
    try:
        _, refs, _ = parse_sql(value, path)
    except ProjectError as exc:
        # the SQL's own line counts from the line its string starts on
        inner = exc.location.line if exc.location else 0
        line = node.args[0].lineno + max(inner - 1, 0)
        raise ProjectError(
            f"in ctx.sql(...): {exc.bare_message}", Location(path, line), hint=exc.hint
        ) from None
    return [(r, node.lineno) for r in refs]
