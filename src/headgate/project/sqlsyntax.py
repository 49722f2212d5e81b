"""Reading SQL a user wrote: the warehouse's own parser first, then sqlglot's.

headgate runs the SQL sqlglot renders from a model, not the text as written, and
sqlglot reads some broken SQL leniently: a join whose ``on`` has nothing after it
becomes a cross join, an empty ``group by`` vanishes. Such a model would be built with
a meaning its author never wrote. So every piece of user SQL is first parsed by
DuckDB's parser (the warehouse's grammar, no tables looked up, about 50 µs a
statement), and whatever it refuses is refused here with the line, the column and
the text at fault. What DuckDB accepts is then parsed by sqlglot, whose errors
(unterminated strings included) are reported the same way.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from dataclasses import dataclass, replace
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

WAREHOUSE_DIALECT = "duckdb"
_NEAR = re.compile(r'at or near "(?P<token>.*)"', re.DOTALL)
_connection: tuple[int, Any] | None = None
_connection_lock = threading.Lock()
_inherited: list[Any] = []  # connections a forked process got from its parent: never closed


def _fresh_lock_in_child() -> None:
    global _connection_lock
    _connection_lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_fresh_lock_in_child)


@dataclass(frozen=True)
class SqlSyntaxProblem:
    """Where SQL stops making sense: 1-based line and column, the text there, and why."""

    line: int
    column: int
    near: str
    description: str
    context: str = ""  # the line as written, around the place

    def message(self) -> str:
        near = f" at '{self.near}'" if self.near else ""
        if self.context and self.context != self.near:
            near += f" in `{self.context}`"
        return f"SQL syntax error{near}: {self.description}"


class SqlSyntaxError(ValueError):
    """User SQL that does not parse; ``problem`` says where and why."""

    def __init__(self, problem: SqlSyntaxProblem) -> None:
        super().__init__(problem.message())
        self.problem = problem


SYNTAX_HINT = "fix the SQL there: headgate runs no SQL that DuckDB's parser cannot read as written"


def parse_statements(text: str, *, dialect: str = WAREHOUSE_DIALECT) -> list[exp.Expr]:
    """The statements in ``text``, parsed by sqlglot once the warehouse's parser accepted them.

    Raises :class:`SqlSyntaxError` for anything either parser refuses.
    """
    if dialect == WAREHOUSE_DIALECT:
        problem = warehouse_syntax_problem(text)
        if problem is not None:
            raise SqlSyntaxError(problem)
    try:
        return [s for s in sqlglot.parse(text, dialect=dialect) if s is not None]
    except ParseError as exc:
        raise SqlSyntaxError(_sqlglot_problem(exc)) from None
    except SqlglotError as exc:  # TokenError and the like: no position given
        raise SqlSyntaxError(SqlSyntaxProblem(0, 0, "", _first_line(str(exc)))) from None


def warehouse_syntax_problem(text: str) -> SqlSyntaxProblem | None:
    """What DuckDB's parser finds wrong with ``text``, or None when it parses."""
    import duckdb

    connection = _parser_connection()
    with _connection_lock:
        try:
            connection.extract_statements(text)
            return None
        except duckdb.ParserException as exc:
            message = _first_line(str(exc)).removeprefix("Parser Error: ")
            found = connection.execute("SELECT json_serialize_sql(?)", [text]).fetchone()
    position = _error_position(found[0] if found else None)
    return _problem_at(text, position, message)


def _parser_connection() -> Any:
    """One in-memory DuckDB per process (worker processes made by fork get their own).

    A connection inherited through fork is kept, never closed: closing it would wait
    for the parent's DuckDB threads, which do not exist in the child.
    """
    global _connection
    import duckdb

    with _connection_lock:
        if _connection is None or _connection[0] != os.getpid():
            if _connection is not None:
                _inherited.append(_connection[1])
            _connection = (os.getpid(), duckdb.connect(":memory:"))
        return _connection[1]


def _error_position(serialized: str | None) -> int | None:
    try:
        found = json.loads(serialized or "")
        return int(found["position"]) if found.get("error") else None
    except (ValueError, KeyError, TypeError):
        return None


def _problem_at(text: str, byte_position: int | None, message: str) -> SqlSyntaxProblem:
    """Line, column and the text at a DuckDB byte offset, with a message a person can act on."""
    if byte_position is None:
        return SqlSyntaxProblem(0, 0, "", message)
    before = text.encode()[:byte_position].decode(errors="ignore")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    rest = text[len(before) :]
    near_match = _NEAR.search(message)
    near = near_match.group("token") if near_match else rest.split("\n", 1)[0]
    near = near.split("\n", 1)[0].strip()
    if len(near) > 40:
        near = near[:37] + "..."
    description = message
    if near_match:
        after = rest[len(near_match.group("token")) :]
        if not _meaningful(after):
            description = "the statement ends here: something is missing after it"
        else:
            description = "this does not fit here (a word misspelt, or a clause incomplete)"
    line_text = text.split("\n")[line - 1].strip()
    if len(line_text) > 80:
        start = max(0, column - 50)
        line_text = "..." + text.split("\n")[line - 1][start : start + 77].strip()
    return SqlSyntaxProblem(line, column, near, description, line_text)


def _meaningful(sql_tail: str) -> bool:
    """Whether anything but spaces, comments and semicolons follows."""
    tail = re.sub(r"--[^\n]*|/\*.*?\*/", "", sql_tail, flags=re.DOTALL)
    return bool(tail.strip().strip(";").strip())


def _sqlglot_problem(exc: ParseError) -> SqlSyntaxProblem:
    first = exc.errors[0] if exc.errors else {}
    line, column = int(first.get("line") or 0), int(first.get("col") or 0)
    text = str(first.get("highlight") or "").strip()
    description = _first_line(str(first.get("description") or exc))
    if "Required keyword" in description or "<class" in description:
        description = "the query is incomplete here (a clause or expression is missing)"
    context = (str(first.get("start_context") or "") + text).strip().splitlines()
    near = context[-1].strip() if context else ""
    start = max(column - len(text) + 1, 1) if column else 0
    return SqlSyntaxProblem(line, start, near, description)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def in_text(problem: SqlSyntaxProblem) -> str:
    """The problem for SQL given outside a file (a command line, a YAML value): line and column first."""
    if not problem.line:
        return problem.message()
    return f"line {problem.line}, column {problem.column}: {problem.message()}"


_EXPRESSION_PREFIX = "SELECT 1 WHERE (\n"


@functools.lru_cache(maxsize=4096)
def expression_syntax_problem(text: str) -> SqlSyntaxProblem | None:
    """What DuckDB's parser finds wrong with one SQL condition (a check's ``where``), or None."""
    problem = warehouse_syntax_problem(f"{_EXPRESSION_PREFIX}{text}\n)")
    if problem is None:
        return None
    lines = text.split("\n")
    if problem.line - 1 > len(lines) or problem.line < 2:  # at the closing parenthesis
        last = lines[-1].strip()
        return SqlSyntaxProblem(
            len(lines), len(lines[-1]) + 1, last[-40:], "the expression ends too early", last
        )
    return replace(problem, line=problem.line - 1)


@functools.lru_cache(maxsize=1024)
def regex_problem(pattern: str) -> str | None:
    """Why the warehouse's regular expressions (DuckDB's RE2) refuse ``pattern``, or None."""
    import duckdb

    connection = _parser_connection()
    with _connection_lock:
        try:
            connection.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
            return None
        except duckdb.Error as exc:
            return _first_line(str(exc)).removeprefix("Invalid Input Error: ")
