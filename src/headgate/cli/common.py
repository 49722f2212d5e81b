"""What every command shares: global options, the terminals, JSON output, loading the project."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
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
    hub: str | None = None  # a hub's URL: commands that support it are carried out there
    token: str | None = None  # the API token sent to the hub (--token, HEADGATE_TOKEN)


OPTIONS = Options()
out = RichTerminal(soft_wrap=True)
err = RichTerminal(stderr=True, soft_wrap=True)

EnvOption = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment (default: the project's, prod).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document for programs.")]


def project(console: Any = None) -> Any:
    """The project the global --project option points at (here or above by default)."""
    from headgate.cli.render import QuietConsole
    from headgate.facade import Project

    return Project.load(OPTIONS.project, console=console or QuietConsole())


def rich_console() -> Any:
    from headgate.cli.render import RichConsole

    return RichConsole(out)


def identifier(names: Iterable[str], *, others: int, width: int) -> dict[str, Any]:
    """Column options for model and check names, which are never cut: each stays whole on
    one line while it fits beside the ``others`` columns at their narrowest (they give way
    first), and is folded onto more lines when even that cannot fit."""
    longest = max((len(name) for name in names), default=0)
    narrowest = 4 * (others + 1) + 1  # per column: a character, its padding, a border
    return {"no_wrap": longest + narrowest <= width, "overflow": "fold"}


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
