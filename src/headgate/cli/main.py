"""``headgate``: the command line. Every command loads the project and calls one facade method."""

from __future__ import annotations

import csv
import io
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from headgate import __version__
from headgate.cli import common
from headgate.cli.agent import register as register_agent_command
from headgate.cli.common import (
    OPTIONS,
    EnvOption,
    JsonOption,
    err,
    jsonable,
    out,
    print_json,
    rich_console,
)
from headgate.cli.environments import register as register_environment_commands
from headgate.cli.governance import register as register_governance_commands
from headgate.cli.quality import register as register_quality_commands
from headgate.cli.review import plan as review_plan
from headgate.cli.schedules import register as register_schedule_commands
from headgate.cli.serve import serve as serve_command
from headgate.cli.users import register as register_user_commands
from headgate.errors import HeadgateError

if TYPE_CHECKING:
    from headgate.facade.quickread import QueryRows

app = typer.Typer(
    help="headgate: git-kept data pipelines, built by fingerprint, published atomically.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _print_version(asked: bool) -> None:
    """``--version`` is eager: it answers before Click asks for a command."""
    if asked:
        out.print(f"headgate {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    project: Annotated[
        Path, typer.Option("--project", "-p", help="Project folder (default: here or above).")
    ] = Path("."),
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    hub: Annotated[
        str | None,
        typer.Option(
            "--hub",
            envvar="HEADGATE_HUB",
            help="A hub's URL (headgate serve): run, plan, deploy, rollback, query, status, "
            "runs and failures are carried out there.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="HEADGATE_TOKEN",
            help="An API token (headgate tokens create) the hub signs the command in with.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    OPTIONS.project = project
    OPTIONS.debug = debug
    OPTIONS.hub = hub or None
    OPTIONS.token = token or None


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")] = Path("."),
) -> None:
    """Create an empty project: headgate.yml, models/, sources/, checks/, deliveries/."""
    from headgate.project.scaffold import scaffold

    scaffold(directory)
    out.print(f"[green]created project in {directory}[/]")
    out.print(
        f"next: add SQL files under {directory / 'models'}, then run [bold]headgate -p {directory} run[/]"
    )


@app.command()
def run(
    env: EnvOption = None,
    select: Annotated[
        str | None, typer.Option("--select", "-s", help="name, tag:x, path:models/x, +name, name+")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", "-t", min=1, help="Models built at once.")
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild selected models from scratch.")
    ] = False,
    restate: Annotated[
        list[str] | None,
        typer.Option("--restate", help="Reprocess MODEL's range and what depends on it."),
    ] = None,
    start: Annotated[
        datetime | None, typer.Option("--start", help="Start of the range (with --restate).")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--end", help="End of the range (exclusive).")
    ] = None,
    publish_partial: Annotated[
        bool,
        typer.Option(
            "--publish-partial",
            help="Publish models whose whole upstream succeeded, even if others failed.",
        ),
    ] = False,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            help="The steps to do, of ingest,build,checks,publish,deliveries (default: all); "
            "publish needs checks.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build what changed, in parallel, and publish the environment in one swap."""
    from headgate.cli.render import QuietConsole

    includes = [step for step in only.split(",") if step.strip()] if only is not None else None
    if OPTIONS.hub and includes is not None:
        raise HeadgateError(
            "--only runs here, not through a hub",
            hint="drop --hub, or give the steps to a schedule's includes in headgate.yml",
        )
    if OPTIONS.hub:
        from headgate.cli.remote import hub_run

        request: dict[str, Any] = {"environment": env, "select": select, "threads": threads}
        request |= {"full_refresh": full_refresh, "publish_partial": publish_partial}
        request |= {"restate": restate, "start": start, "end": end}
        hub_run(request, as_json=as_json)
        return
    project = common.project(QuietConsole() if as_json else rich_console())
    with project:
        result = project.run(
            env,
            selection=select,
            threads=threads,
            full_refresh=full_refresh,
            restate=restate,
            start=start,
            end=end,
            publish_partial=publish_partial,
            includes=includes,
        )
    if as_json:
        print_json(result.to_json())
    if not result.ok:
        raise typer.Exit(1)


@app.command("test")
def test_command(
    env: EnvOption = None,
    select: Annotated[str | None, typer.Option("--select", "-s", help="Models to check.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the checks of what an environment publishes, without building anything."""
    from headgate.cli.render import render_check_summary

    with common.project() as project:
        result = project.test(env, selection=select)
    if as_json:
        print_json(result.to_json())
    else:
        render_check_summary(out, result.results, show_passed=True)
        for model, error in result.errors.items():
            err.print(f"[red]{model}[/]: {escape(str(error))}")
        warnings = result.counts().get("warn", 0)
        verdict = "[red]checks failed[/]"
        if result.ok:
            verdict = (
                f"[yellow]no check failed; {warnings} warning(s)[/]"
                if warnings
                else "[green]all checks passed[/]"
            )
        out.print(f"{verdict} in {result.environment} ({result.seconds:.2f} s)")
    if not result.ok:
        raise typer.Exit(1)


@app.command("deliver")
def deliver_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="Deliveries to run (default: all).")
    ] = None,
    env: EnvOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run deliveries (exports, reports, notebooks) against what an environment publishes."""
    from headgate.cli.render import render_deliveries

    with common.project() as project:
        results = project.deliver(env, names=names)
    if as_json:
        print_json({"deliveries": [r.to_dict() for r in results]})
    else:
        render_deliveries(out, results)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


@app.command()
def failures(
    check: Annotated[str, typer.Argument(help="Check name, e.g. staging.orders.order_id.unique")],
    as_json: JsonOption = False,
) -> None:
    """Show a check's latest result and its sample of failing rows."""
    from headgate.cli.render import render_failures

    if OPTIONS.hub:
        from headgate.cli.remote import hub_failures

        hub_failures(check, as_json=as_json)
        return
    with common.project() as project:
        records = project.failures_of(check)
    if as_json:
        shown = (
            jsonable(records[0])
            if len(records) == 1
            else {"check": check, "results": [jsonable(r) for r in records]}
        )
        print_json(shown)
    else:
        for record in records:
            render_failures(out, record)


@app.command()
def runs(
    run_id: Annotated[int | None, typer.Argument(help="Show one run's tasks.")] = None,
    env: EnvOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    as_json: JsonOption = False,
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="With a run's id: one task in full (a step's output)."),
    ] = None,
) -> None:
    """List recent runs, or one run's tasks."""
    from headgate.cli.render import render_run_detail, render_runs, render_task_output

    if task is not None and run_id is None:
        raise HeadgateError("--task needs a run's id", hint="headgate runs <id> --task steps.x")
    if OPTIONS.hub:
        from headgate.cli.remote import hub_runs

        hub_runs(run_id, env, limit, as_json=as_json, task=task)
        return
    with common.project() as project:
        if run_id is not None:
            record = project.run_detail(run_id)
            if task is not None and not as_json:
                render_task_output(out, record, task, project.root)
                return
            print_json(jsonable(record)) if as_json else render_run_detail(out, record)
            return
        records = project.runs(limit=limit, environment=env)
    if as_json:
        print_json({"runs": [jsonable(r) for r in records]})
    else:
        render_runs(out, records)


@app.command()
def status(env: EnvOption = None, as_json: JsonOption = False) -> None:
    """Each model's state in an environment, and its last run."""
    from headgate.cli.render import render_status

    if OPTIONS.hub:
        from headgate.cli.remote import hub_status

        hub_status(env, as_json=as_json)
        return
    with common.project() as project:
        result = project.status(env)
    if as_json:
        print_json(jsonable(result))
    else:
        render_status(out, result)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="A read-only query; read models by their names.")],
    env: EnvOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=0, help="At most this many rows.")
    ] = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    use_flight: Annotated[
        bool,
        typer.Option("--flight", help="With --hub: read over the hub's Arrow Flight port."),
    ] = False,
) -> None:
    """Run a read-only query against an environment and print the rows."""
    if OPTIONS.hub:  # printed batch by batch as the hub sends them: bounded memory
        from headgate.cli.remote import hub_query_batches
        from headgate.cli.rows import print_batches

        with hub_query_batches(sql, env, limit, flight=use_flight) as (columns, batches):
            print_batches(columns, batches, as_json=as_json, as_csv=as_csv)
        return
    if use_flight:
        raise HeadgateError(
            "--flight reads through a hub's Arrow Flight port",
            hint="give --hub URL (or HEADGATE_HUB)",
        )
    with common.project() as project:
        data = project.query_rows(sql, env, limit=limit)
    print_rows(data, as_json=as_json, as_csv=as_csv)


def print_rows(data: QueryRows, *, as_json: bool, as_csv: bool) -> None:
    """A query's rows as ``headgate query`` prints them: a table, JSON or CSV."""
    from headgate.cli.render import render_rows

    if as_json:
        print_json({"columns": data.columns, "rows": data.records()})
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(data.columns)
        for row in data.rows:
            writer.writerow(["" if v is None else v for v in row])
        sys.stdout.write(buffer.getvalue())
    else:
        render_rows(out, data.columns, data.rows)


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo project.")] = Path(
        "demo-shop"
    ),
    orders: Annotated[
        int, typer.Option("--orders", min=1000, help="Number of orders to generate.")
    ] = 120_000,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite/--keep", help="Rewrite the demo's files if the folder exists."),
    ] = True,
    build: Annotated[
        bool, typer.Option("--run/--no-run", help="Build the demo after writing it.")
    ] = True,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="Warehouse: duckdb (a local file), postgres or spark (local[2])."
        ),
    ] = "duckdb",
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="PostgreSQL URL for --engine postgres (default: $HEADGATE_TEST_POSTGRES, "
            "else postgresql://postgres@127.0.0.1:5432/postgres).",
        ),
    ] = None,
    schema_prefix: Annotated[
        str, typer.Option("--schema-prefix", help="Before every schema made in PostgreSQL.")
    ] = "",
) -> None:
    """Write the online-shop demo project and build it end to end."""
    import os

    from headgate.demo import write_demo_project

    if engine not in ("duckdb", "postgres", "spark"):
        raise HeadgateError(
            f"unknown engine '{engine}'", hint="use --engine duckdb, postgres or spark"
        )
    postgres_url = None
    if engine == "postgres":
        postgres_url = url or os.environ.get(
            "HEADGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
    summary = write_demo_project(
        directory,
        orders=orders,
        overwrite=overwrite,
        postgres_url=postgres_url,
        schema_prefix=schema_prefix,
        spark_master="local[2]" if engine == "spark" else None,
    )
    out.print(
        f"[bold]demo project[/] written to {directory}: {summary.orders:,} orders, {summary.customers:,} customers, "
        f"{summary.products:,} products, {summary.order_items:,} order items, {summary.payments:,} payments"
    )
    out.print(
        f"planted defects for checks to find: {len(summary.defects)} kinds (see {directory / 'README.md'})"
    )
    if not build:
        return
    from headgate.facade import Project

    with Project.load(directory, console=rich_console()) as project:
        result = project.run()
    if not result.ok:
        raise typer.Exit(1)
    command = _command_from(directory)
    out.print("\n[bold]where to look[/]")
    out.print(f"  cd {directory}")
    out.print(f"  {command} status     # every model in prod, up to date or not")
    out.print(f"  {command} runs       # run history; `runs 1` shows one run's models")
    out.print(
        f'  {command} query "select * from marts.daily_revenue order by order_date desc limit 10"'
    )
    out.print(
        f"  {command} failures staging.order_items.quantity.range   # the rows a check caught"
    )
    out.print(f"  {command} test       # run every check on what prod publishes")
    out.print(f"  the monthly report: {directory / 'out/reports/monthly.html'}")
    out.print(f"  the planted defects and what to try next: {directory / 'README.md'}")


def _command_from(directory: Path) -> str:
    """How to call this headgate from ``directory``: plain ``headgate`` when it is on PATH."""
    import os
    import shutil

    executable = Path(sys.argv[0]).resolve()
    on_path = shutil.which("headgate")
    if on_path and Path(on_path).resolve() == executable:
        return "headgate"
    return os.path.relpath(executable, directory.resolve())


register_environment_commands(app)
register_quality_commands(app)
register_schedule_commands(app)
register_agent_command(app)
register_governance_commands(app)
register_user_commands(app)
app.command()(review_plan)
app.command()(serve_command)


def main() -> None:
    """Entry point: user errors print as one clear message (a traceback only with --debug)."""
    try:
        app()
    except HeadgateError as exc:
        if OPTIONS.debug or "--debug" in sys.argv:
            raise
        # the message quotes user text ('[a-z]+' patterns, SQL): never read it as markup
        err.print(f"[bold red]error:[/] {escape(exc.render())}", highlight=False)
        sys.exit(2 if exc.transient else 1)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
