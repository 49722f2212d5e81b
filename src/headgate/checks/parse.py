"""Reading a model's declared checks into validated :class:`Check` objects.

Every problem is reported before anything runs, with the file and line it was written
on and what is allowed there: an unknown check type (with the known ones), malformed
parameters (with the allowed ones and an example), a check on a column the built table
does not have (with the closest names). All problems of a model are reported at once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from headgate.checks.custom import parse_custom_checks
from headgate.checks.spec import Check, CheckType, MaxFailures, Severity, check_types
from headgate.checks.sqlgen import SnippetError, parse_snippet, referenced_columns
from headgate.errors import Location, ProjectError, ProjectErrors
from headgate.project.config import CheckInput, ModelOptions
from headgate.project.models import DIALECT, ParsedModel

__all__ = ["COMMON_OPTIONS", "parse_custom_checks", "parse_model_checks", "raise_all"]

KeyPath = tuple[str | int, ...]
COMMON_OPTIONS = ("name", "severity", "where", "max_failures", "description")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class CommonOptions(BaseModel):
    """Options every check accepts besides its type's parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    severity: Severity = "error"
    where: str | None = None
    max_failures: Any = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("use letters, digits, '_', '.' or '-'")
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: str | None) -> str | None:
        if value is not None:
            parse_snippet(value, DIALECT)
        return value

    @field_validator("max_failures")
    @classmethod
    def _tolerance(cls, value: Any) -> Any:
        if value is not None:
            MaxFailures.parse(value)
        return value


@dataclass(frozen=True)
class _Lines:
    """Where each key of the options was written."""

    path: Path
    lines: dict[KeyPath, int]

    def at(self, keypath: KeyPath) -> Location:
        probe = tuple(keypath)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return Location(self.path, self.lines.get(probe, 0))

    def has(self, keypath: KeyPath) -> bool:
        return keypath in self.lines


def parse_model_checks(
    model: ParsedModel, root: Path, columns: list[str] | None = None
) -> list[Check]:
    """The model's checks, validated; ``columns`` (the built table's) enables column checks.

    Raises :class:`ProjectError` (one problem) or :class:`ProjectErrors` (several).
    """
    entries = _entries(model.options)
    if not entries:
        return []
    lines = _Lines(root / (model.options_file or model.path), model.option_lines)
    spelling = {c.lower(): c for c in columns} if columns is not None else None
    errors: list[ProjectError] = []
    if spelling is not None:
        for declared, options in model.options.columns.items():
            if options.checks and declared.lower() not in spelling:
                where = lines.at(("columns", declared))
                errors.append(_missing_column(declared, model.name, spelling, where))
    parsed: list[tuple[Check, KeyPath]] = []
    for column, keypath, raw in entries:
        if spelling is not None and column is not None and column.lower() not in spelling:
            continue  # reported once for the column above
        try:
            check = _parse_entry(model.name, column, keypath, raw, lines)
            if spelling is not None:
                check = _match_columns(check, keypath, lines, spelling)
        except ProjectError as exc:
            errors.append(exc)
            continue
        parsed.append((check, keypath))
    named = _name_checks(parsed, lines, errors)
    raise_all(errors)
    return named


def raise_all(errors: list[ProjectError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProjectErrors(errors)


def _entries(options: ModelOptions) -> list[tuple[str | None, KeyPath, CheckInput]]:
    found: list[tuple[str | None, KeyPath, CheckInput]] = []
    for column, column_options in options.columns.items():
        for index, raw in enumerate(column_options.checks):
            found.append((column, ("columns", column, "checks", index), raw))
    for index, raw in enumerate(options.checks):
        found.append((None, ("checks", index), raw))
    return found


def _declarable() -> dict[str, CheckType]:
    return {name: kind for name, kind in check_types().items() if kind.declared_in_yaml}


def _parse_entry(
    model: str, column: str | None, keypath: KeyPath, raw: CheckInput, lines: _Lines
) -> Check:
    types = _declarable()
    if isinstance(raw, str):
        type_name, body, options, type_path = raw.strip(), None, {}, keypath
    elif isinstance(raw, dict):
        keys = [str(k) for k in raw if k not in COMMON_OPTIONS]
        unknown = [k for k in keys if k not in types]
        if unknown or not keys:
            name = unknown[0] if unknown else None
            raise _unknown_type(name, lines.at((*keypath, name) if name else keypath))
        if len(keys) > 1:
            raise ProjectError(
                f"one check per list item, found {' and '.join(keys)}",
                lines.at(keypath),
                hint="write each as its own '- ' item",
            )
        type_name = keys[0]
        body = raw[type_name]
        options = {str(k): v for k, v in raw.items() if k != type_name}
        type_path = (*keypath, type_name)
    else:
        raise ProjectError(
            f"a check is a type name (not_null) or a mapping (range: {{min: 0}}), found {raw!r}",
            lines.at(keypath),
        )
    kind = types.get(type_name)
    if kind is None:
        raise _unknown_type(type_name, lines.at(type_path))
    _check_scope(kind, column, lines.at(type_path))
    common = _common_options(kind, options, keypath, lines)
    params = _params(kind, body, isinstance(raw, str), type_path, lines)
    return Check(
        name=common.name or "",
        model=model,
        column=column,
        type=kind.name,
        params=params,
        severity=common.severity,
        where=common.where,
        max_failures=MaxFailures.parse(common.max_failures)
        if common.max_failures is not None
        else MaxFailures(),
        description=common.description,
        location=lines.at(keypath),
    )


def _unknown_type(name: str | None, location: Location) -> ProjectError:
    known = sorted(_declarable())
    close = difflib.get_close_matches(name or "", [*known, *COMMON_OPTIONS], n=1)
    maybe = f"did you mean '{close[0]}'? " if close else ""
    what = f"unknown check type '{name}'" if name else "no check type given"
    return ProjectError(
        what,
        location,
        hint=f"{maybe}check types: {', '.join(known)}; "
        f"options of any check: {', '.join(COMMON_OPTIONS)}; "
        "custom SQL checks are files: checks/<name>.sql",
    )


def _check_scope(kind: CheckType, column: str | None, location: Location) -> None:
    if column is not None and "column" not in kind.scopes:
        raise ProjectError(
            f"{kind.name} checks the whole model, not column '{column}'",
            location,
            hint=f"list it under the model's top-level checks: - {kind.example}",
        )
    if column is None and "model" not in kind.scopes:
        raise ProjectError(
            f"{kind.name} checks one column",
            location,
            hint=f"list it under columns: <column>: checks: - {kind.example}",
        )


def _common_options(
    kind: CheckType, options: dict[str, Any], keypath: KeyPath, lines: _Lines
) -> CommonOptions:
    try:
        common = CommonOptions.model_validate(options)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ProjectError(
            f"{kind.name}: option '{option}': {message}", lines.at((*keypath, option))
        ) from None
    if common.where is not None and not kind.takes_where:
        raise ProjectError(f"{kind.name} does not take 'where'", lines.at((*keypath, "where")))
    if common.max_failures is not None and not kind.row_level:
        raise ProjectError(
            f"{kind.name} does not count failing rows, so 'max_failures' does not apply",
            lines.at((*keypath, "max_failures")),
        )
    return common


def _params(kind: CheckType, body: Any, bare: bool, type_path: KeyPath, lines: _Lines) -> Any:
    allowed = ", ".join(kind.params_model.model_fields) or "none"
    hint = f"parameters of {kind.name}: {allowed}; e.g. - {kind.example}"
    try:
        return kind.parse_params(body)
    except ValidationError as exc:
        if bare:
            raise ProjectError(
                f"{kind.name} needs parameters", lines.at(type_path), hint=hint
            ) from None
        raise _params_error(kind, exc, type_path, lines, hint) from None
    except ValueError as exc:
        raise ProjectError(f"{kind.name}: {exc}", lines.at(type_path), hint=hint) from None


def _params_error(
    kind: CheckType, exc: ValidationError, type_path: KeyPath, lines: _Lines, hint: str
) -> ProjectError:
    error = exc.errors()[0]
    shown: list[str | int] = []
    for part in error["loc"]:
        if not isinstance(part, str | int) or not lines.has((*type_path, *shown, part)):
            break
        shown.append(part)
    location = lines.at((*type_path, *shown))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return ProjectError(
            f"{kind.name}: unknown parameter '{error['loc'][-1]}'", location, hint=hint
        )
    if error["type"] == "missing":
        field = ".".join(str(p) for p in error["loc"])
        return ProjectError(f"{kind.name}: missing parameter '{field}'", location, hint=hint)
    if error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return ProjectError(f"{kind.name} takes a mapping of parameters", location, hint=hint)
    if error.get("input", ...) is None:
        message = "an empty value (null) is not allowed here"
    where = ".".join(str(p) for p in shown)
    return ProjectError(
        f"{kind.name}: {where + ': ' if where else ''}{message}", location, hint=hint
    )


def _match_columns(
    check: Check, keypath: KeyPath, lines: _Lines, spelling: dict[str, str]
) -> Check:
    """Check the columns a check reads exist; spell them as the table does."""
    kind = check_types()[check.type]
    at_type = (*keypath, check.type) if lines.has((*keypath, check.type)) else keypath
    needed = [(column, at_type) for column in kind.columns_read(check)]
    snippets = [(check.where, (*keypath, "where"))]
    snippets += [(snippet, at_type) for snippet in kind.sql_snippets(check)]
    for snippet, place in snippets:
        if snippet:
            try:
                needed.extend(
                    (c, place) for c in referenced_columns(parse_snippet(snippet, DIALECT))
                )
            except SnippetError:
                continue  # reported where it was parsed
    for column, place in needed:
        if column.lower() not in spelling:
            raise _missing_column(column, check.model, spelling, lines.at(place))
    return kind.with_columns(check, spelling)


def _missing_column(
    column: str, model: str, spelling: dict[str, str], location: Location
) -> ProjectError:
    close = difflib.get_close_matches(column.lower(), list(spelling), n=3, cutoff=0.6)
    names = sorted(spelling.values())
    listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    maybe = f"did you mean {' or '.join(spelling[c] for c in close)}? " if close else ""
    return ProjectError(
        f"column '{column}' does not exist in {model}",
        location,
        hint=f"{maybe}its columns: {listed}",
    )


def _name_checks(
    parsed: list[tuple[Check, KeyPath]], lines: _Lines, errors: list[ProjectError]
) -> list[Check]:
    """Give each check its name: as written, or ``model.column.type`` (``_2`` for a second).

    A type may name its checks by more than that (a monitor adds its metric).
    """
    taken: set[str] = set()
    for check, keypath in parsed:
        if check.name:
            if check.name.lower() in taken:
                errors.append(
                    ProjectError(
                        f"two checks of {check.model} are named '{check.name}'",
                        lines.at((*keypath, "name")),
                        hint="check names are unique per model",
                    )
                )
            taken.add(check.name.lower())
    named: list[Check] = []
    for check, _ in parsed:
        if not check.name:
            base = ".".join([check.model, *check_types()[check.type].name_parts(check)])
            name, number = base, 1
            while name.lower() in taken:
                number += 1
                name = f"{base}_{number}"
            taken.add(name.lower())
            check = check.renamed(name)
        named.append(check)
    return named
