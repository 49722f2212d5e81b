"""``headgate plan``: the impact review in the terminal, as Markdown, or as JSON."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from headgate.cli import common
from headgate.cli.common import EnvOption, JsonOption, identifier, out, print_json

CHANGE_STYLE = {"added": "green", "removed": "red", "direct": "yellow", "indirect": "cyan"}


def plan(
    env: EnvOption = None,
    select: Annotated[
        str | None, typer.Option("--select", "-s", help="Limit what would be built.")
    ] = None,
    rev: Annotated[
        str | None, typer.Option("--rev", help="Compare a git revision instead of the work tree.")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown for a pull-request comment.")
    ] = False,
    fail_on_breaking: Annotated[
        bool,
        typer.Option("--fail-on-breaking", help="Exit 3 when a breaking change is found (for CI)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Review a change before it ships: models and columns affected, breaking or not, what will be built."""
    from headgate.facade import Project

    if common.OPTIONS.hub:
        from headgate.cli.remote import hub_plan

        hub_plan(env, select, rev, markdown=markdown, as_json=as_json, fail=fail_on_breaking)
        return
    if rev is None:
        project = common.project()
    else:
        project = Project.load_revision(common.OPTIONS.project, rev)
    with project:
        review = project.review(env, selection=select)
    if as_json:
        print_json(review.to_json())
    elif markdown:
        out.print(review.to_markdown(), markup=False, highlight=False)
    else:
        render_review(review.to_json())
    if fail_on_breaking and review.breaking:
        raise typer.Exit(3)


def _also_built(review: dict[str, Any]) -> None:
    for node in review["also_built"]:
        out.print(
            f"also in this run: [bold]{escape(node['name'])}[/] "
            f"({node['action']}: {escape(node['reason'])})"
        )


def render_review(review: dict[str, Any]) -> None:
    """The review in the terminal, from its JSON (``Review.to_json()``, as a hub answers it)."""
    where = f" at {review['revision']}" if review["revision"] else ""
    impacts = review["models"]
    if not impacts:
        out.print(
            f"{review['environment']} is up to date with the project{where}: nothing to review"
        )
        _also_built(review)  # the external steps a run would carry out all the same
        _warn(review["warnings"])
        return
    table = Table(title=f"plan for {review['environment']}{where}", title_justify="left")
    names = (i["name"] for i in impacts)
    table.add_column("model", **identifier(names, others=5, width=out.width))
    for column in ("change", "breaking", "columns changed", "rebuild", "rows"):
        table.add_column(column)
    for impact in impacts:
        style = CHANGE_STYLE.get(impact["change"], "")
        rows = impact["estimated_rows"]
        table.add_row(
            impact["name"],
            f"[{style}]{impact['change']}[/]",
            "[bold red]breaking[/]" if impact["breaking"] else "[green]non-breaking[/]",
            ", ".join(impact["columns_changed"]),
            impact["rebuild_text"],
            f"{rows:,}" if rows is not None else "",
        )
    out.print(table)
    for impact in impacts:
        if impact["schema"]:
            parts = [
                f"{c['column']} {c['change']}"
                + (f" ({c['before']} → {c['after']})" if c["change"] == "retyped" else "")
                for c in impact["schema"]
            ]
            out.print(f"[bold]{impact['name']}[/] schema: {'; '.join(parts)}")
        if impact["reads_changed"]:
            reads = "; ".join(
                f"{u}: {', '.join(cols)}" for u, cols in impact["reads_changed"].items()
            )
            out.print(f"[bold]{impact['name']}[/] reads changed columns of {reads}")
        if impact["sql_diff"]:
            from rich.syntax import Syntax  # Pygments: loaded only to show a diff

            out.print(
                Syntax(impact["sql_diff"], "diff", theme="ansi_dark", background_color="default")
            )
    _also_built(review)
    breaking = [
        i for i in impacts if i["breaking"] and i["change"] in ("direct", "indirect", "removed")
    ]
    out.print(
        f"{review['summary']}, {len(breaking)} breaking change(s), "
        f"{len(review['checks'])} check(s) will run"
    )
    _warn(review["warnings"])
    out.print(f"target state {review['target_state']} (pass to `headgate deploy --expect-state`)")


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        out.print(f"[yellow]warning:[/] {warning}")
