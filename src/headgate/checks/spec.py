"""A validated check, and the registry of check types that know how to validate and run one.

A check as written in YAML (``- range: {min: 0}``) becomes a :class:`Check`: its type's
parameters validated into a typed Pydantic model, its common options (severity, where,
tolerated failures) checked, and the file and line it came from kept so every later
message can point back at it. Each check type is one small class (a
:class:`CheckType`) in its own module under ``headgate.checks.types``; adding a type
means adding a module there, and nothing else changes.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
from abc import ABC
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from headgate.errors import Location

Severity = Literal["error", "warn"]
Scope = Literal["column", "model"]

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_COUNT = re.compile(r"^\s*(\d+)\s*$")


class CheckParams(BaseModel):
    """Base of every check type's parameters: a typo in a parameter is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_percentage(value: object, what: str) -> float:
    """``'20%'`` -> 0.2. Bare numbers are refused: ``0.2`` could mean 0.2% or 20%."""
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            fraction = float(match.group(1)) / 100
            if fraction > 1:
                raise ValueError(f"{what} is a percentage between 0% and 100%, got {value}")
            return fraction
    raise ValueError(f"write {what} as a percentage, e.g. '20%' (got {value!r})")


@dataclass(frozen=True)
class MaxFailures:
    """How many failing rows a check tolerates: a count (``5``) or a fraction (``0.1%``)."""

    count: int | None = 0
    fraction: float | None = None

    @classmethod
    def parse(cls, value: object) -> MaxFailures:
        """``5``, ``'5'`` or ``'0.1%'``; anything else raises ValueError saying what is allowed."""
        if isinstance(value, bool):
            raise ValueError("max_failures is a count (e.g. 5) or a percentage (e.g. '0.1%')")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("max_failures cannot be negative")
            return cls(count=value)
        if isinstance(value, str):
            if _COUNT.match(value):
                return cls(count=int(value))
            if _PERCENT.match(value):
                return cls(count=None, fraction=parse_percentage(value, "max_failures"))
        raise ValueError(
            f"max_failures is a count (e.g. 5) or a percentage (e.g. '0.1%'), got {value!r}"
        )

    def allowed(self, total: int | None) -> int | None:
        """The number of failing rows tolerated out of ``total`` (None: a fraction of unknown)."""
        if self.fraction is None:
            return self.count or 0
        if total is None:
            return None
        # a float tolerance such as 0.1% of 1,000 is 1 row; the epsilon keeps 1.0000000002 at 1
        return math.floor(self.fraction * total + 1e-9)

    def tolerates(self, failing: int, total: int | None) -> bool:
        allowed = self.allowed(total)
        return failing <= (allowed if allowed is not None else 0)

    def __str__(self) -> str:
        if self.fraction is not None:
            return f"{self.fraction * 100:g}%"
        return str(self.count or 0)


@dataclass(frozen=True)
class Check:
    """One check, validated: what it tests, how strictly, and where it was declared.

    ``params`` is the type's Pydantic model (``monitor`` keeps its mapping untouched, since
    another module evaluates it). ``location`` is None only for checks made in code.
    """

    name: str
    model: str
    column: str | None
    type: str
    params: CheckParams | dict[str, Any]
    severity: Severity = "error"
    where: str | None = None
    max_failures: MaxFailures = field(default_factory=MaxFailures)
    description: str | None = None
    location: Location | None = None

    def renamed(self, name: str) -> Check:
        return replace(self, name=name)


class CheckType(ABC):
    """What a check type is: its name, parameters, where it may be declared, what it reads.

    How a type is evaluated is added by the base classes in
    :mod:`headgate.checks.evaluation`: a :class:`~headgate.checks.evaluation.ScanCheckType`
    contributes aggregates to the fused scan, a
    :class:`~headgate.checks.evaluation.QueryCheckType` runs its own query. A type with
    neither (``monitor``) is accepted in the YAML and left to the module that owns it.
    """

    name: ClassVar[str]
    params_model: ClassVar[type[CheckParams]]
    scopes: ClassVar[frozenset[Scope]]
    takes_where: ClassVar[bool] = True
    """Whether ``where`` applies (it filters the rows the check reads)."""
    row_level: ClassVar[bool] = True
    """Whether the check counts failing rows, so ``max_failures`` applies."""
    example: ClassVar[str]
    """How to write it, shown in error hints, e.g. ``range: {min: 0, max: 100}``."""
    declared_in_yaml: ClassVar[bool] = True
    """False for types that come from elsewhere (custom SQL checks are files)."""

    def parse_params(self, raw: Any) -> CheckParams | dict[str, Any]:
        """Validate the mapping under the type's key (raises pydantic's ValidationError)."""
        return self.params_model.model_validate({} if raw is None else raw)

    def columns_read(self, check: Check) -> list[str]:
        """Columns of the checked table the check needs (validated against the built table)."""
        return [check.column] if check.column else []

    def sql_snippets(self, check: Check) -> list[str]:
        """User-written SQL the check embeds (besides ``where``), for column validation."""
        return []

    def name_parts(self, check: Check) -> list[str]:
        """A check's default name after its model: ``[column, type]`` (``orders.id.unique``)."""
        return [part for part in (check.column, self.name) if part]

    def with_columns(self, check: Check, spelling: dict[str, str]) -> Check:
        """The check with column names spelled as the table spells them (lower-case keys)."""
        if check.column is None:
            return check
        return replace(check, column=spelling.get(check.column.lower(), check.column))


_REGISTRY: dict[str, CheckType] = {}
_T = TypeVar("_T", bound=type[CheckType])
_loaded = False


def register(cls: _T) -> _T:
    """Class decorator: make a check type known by its name."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"check type '{cls.name}' is registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def check_types() -> dict[str, CheckType]:
    """Every known check type by name (the modules of ``headgate.checks.types``)."""
    global _loaded
    if not _loaded:
        from headgate.checks import types as package

        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
        _loaded = True
    return _REGISTRY


def check_type(name: str) -> CheckType:
    """The type called ``name``; KeyError if there is none."""
    return check_types()[name]
