"""Commands for profiles, suggested checks and monitors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headgate.cli.common import EnvOption, JsonOption, identifier, out, print_json, project

checks_app = typer.Typer(help="Checks: generated from profiles.", no_args_is_help=True)


def profile(
    name: Annotated[str, typer.Argument(help="Model or source table, e.g. shop.orders.")],
    env: EnvOption = None,
    as_json: JsonOption = False,
) -> None:
    """Profile a model or source in one scan: types, nulls, distincts, ranges, patterns, hygiene."""
    with project() as current:
        result = current.profile(name, env)
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(
        title=f"profile of {name}: {result.rows:,} rows ({result.seconds:.2f} s)",
        title_justify="left",
    )
    names = (c.name for c in result.columns)
    table.add_column("column", **identifier(names, others=7, width=out.width))
    for column in (
        "type",
        "nulls",
        "distinct",
        "min",
        "max",
        "mean",
        "pattern",
    ):
        table.add_column(column)
    for column in result.columns:
        pattern = (
            f"{column.pattern.name} {column.pattern.match_fraction:.0%}" if column.pattern else ""
        )
        table.add_row(
            column.name,
            column.type,
            f"{column.null_fraction:.1%}",
            f"{column.distinct:,}" + ("" if column.distinct_exact else "~"),
            _short(column.min),
            _short(column.max),
            f"{column.mean:,.4g}" if column.mean is not None else "",
            pattern,
        )
    out.print(table)
    for column in result.columns:
        for finding in column.hygiene:
            out.print(f"[yellow]{column.name}[/]: {finding.message}")
    out.print(f"next: headgate checks suggest {name}")


@checks_app.command("suggest")
def suggest(
    name: Annotated[
        str, typer.Argument(help="Model or source table with a profile (made now if missing).")
    ],
    env: EnvOption = None,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the YAML here instead of printing it.")
    ] = None,
) -> None:
    """Propose checks from the latest profile, as YAML to review and keep."""
    with project() as current:
        text = current.suggest_checks(name, env)
    if output is None:
        out.print(text, markup=False, highlight=False, end="")
        return
    output.write_text(text)
    out.print(f"wrote {output}: review it, then move what is true into the model's options")


def monitor(
    model: Annotated[str, typer.Argument(help="Model.")],
    metric: Annotated[
        str,
        typer.Argument(
            help="row_count, null_fraction, distinct_fraction, mean, min, max, freshness_lag"
        ),
    ],
    column: Annotated[
        str | None, typer.Option("--column", "-c", help="Column, for per-column metrics.")
    ] = None,
    chart_kind: Annotated[
        str | None,
        typer.Option(
            "--chart",
            help="western_electric, ewma, cusum or weekly (default: the chart the model's "
            "monitor judges by)",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A metric's control chart over recent runs: center, limits and the points it flags,
    by the chart the model's monitor judges by (or --chart)."""
    from headgate.checks.spc import render_text

    with project() as current:
        chart = current.monitor(model, metric, column=column, chart=chart_kind)
    if as_json:
        print_json(chart.to_dict())
    else:
        out.print(render_text(chart), markup=False, highlight=False, end="")


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def register(app: typer.Typer) -> None:
    app.add_typer(checks_app, name="checks")
    app.command()(profile)
    app.command()(monitor)
