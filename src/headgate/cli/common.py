"""What every command shares: global options, the terminals, JSON output, loading the project."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console as RichTerminal


@dataclass
class Options:
    project: Path = Path(".")
    debug: bool = False


OPTIONS = Options()
out = RichTerminal(soft_wrap=True)
err = RichTerminal(stderr=True, soft_wrap=True)

EnvOption = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment (default: the project's, prod).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document for programs.")]
IDENTIFIER: dict[str, Any] = {"overflow": "fold"}
"""Table column options for model and check names: shown whole, folded if they must be, never cut."""


def project(console: Any = None) -> Any:
    """The project the global --project option points at (here or above by default)."""
    from headgate.cli.render import QuietConsole
    from headgate.facade import Project

    return Project.load(OPTIONS.project, console=console or QuietConsole())


def rich_console() -> Any:
    from headgate.cli.render import RichConsole

    return RichConsole(out)


def jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Decimal):
        # JSON numbers, not strings: integral decimals (e.g. DuckDB's HUGEINT sums) stay exact
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(data), default=str) + "\n")
