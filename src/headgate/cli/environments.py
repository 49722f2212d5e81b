"""Commands for environments and deployments: env create/list/delete, deploy, rollback, janitor."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from headgate.cli.common import (
    OPTIONS,
    JsonOption,
    identifier,
    jsonable,
    out,
    print_json,
    project,
)

env_app = typer.Typer(
    help="Environments: cheap, isolated sets of views over shared tables.", no_args_is_help=True
)


@env_app.command("create")
def env_create(
    name: Annotated[str, typer.Argument(help="New environment, e.g. dev-alice.")],
    source: Annotated[str, typer.Option("--from", help="Environment to start from.")] = "prod",
    as_json: JsonOption = False,
) -> None:
    """Create an environment publishing the same tables as another: no data is copied."""
    with project() as current:
        change = current.env_create(name, source=source)
    if as_json:
        print_json({"environment": name, "from": source, "models": len(change.changed)})
    else:
        out.print(
            f"[green]created {name}[/] from {source}: {len(change.changed)} model(s), no data copied"
        )
        out.print(f"build your changes there with: headgate run --env {name}")


@env_app.command("list")
def env_list(as_json: JsonOption = False) -> None:
    """Every environment: who made it, from where, how many models, when it last changed."""
    with project() as current:
        records = current.env_list()
    if as_json:
        print_json({"environments": [jsonable(r) for r in records]})
        return
    table = Table(title="environments", title_justify="left")
    for column in ("name", "created by", "from", "models", "last change"):
        table.add_column(column)
    for record in records:
        changed = record.updated_at or record.created_at
        table.add_row(
            record.name,
            record.created_by or "",
            record.from_environment or "",
            str(record.models),
            changed.astimezone().strftime("%Y-%m-%d %H:%M") if changed else "",
        )
    out.print(table)


@env_app.command("delete")
def env_delete(name: Annotated[str, typer.Argument(help="Environment to delete.")]) -> None:
    """Drop an environment's views; the tables stay while anything else points at them."""
    with project() as current:
        dropped = current.env_delete(name)
    out.print(
        f"deleted {name} ({dropped} view(s)); its tables are kept until `headgate janitor` finds them unused"
    )


def deploy(
    source: Annotated[str, typer.Option("--from", help="Environment whose tables are promoted.")],
    target: Annotated[str, typer.Option("--to", help="Environment to publish them in.")] = "prod",
    expect_state: Annotated[
        str | None,
        typer.Option(
            "--expect-state",
            help="Refuse if the target changed since the plan (plan's target_state).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Promote exactly the tables built and checked in one environment into another."""
    if OPTIONS.hub:
        from headgate.cli.remote import hub_deploy

        done = hub_deploy(source, target, expect_state)
    else:
        with project() as current:
            result = current.deploy(source, target, expect_state=expect_state)
        done = {
            "deployment_id": result.change.deployment_id,
            "from": result.source,
            "to": result.target,
            "models": result.models,
        }
    if as_json:
        print_json(done)
        return
    if not done["models"]:
        out.print(f"{target} already publishes what {source} does: nothing to deploy")
        return
    table = Table(
        title=f"deployment {done['deployment_id']}: {source} → {target}", title_justify="left"
    )
    names = (m["name"] for m in done["models"])
    table.add_column("model", **identifier(names, others=1, width=out.width))
    table.add_column("change")
    for model in done["models"]:
        table.add_row(model["name"], model["change"])
    out.print(table)
    out.print(f"[green]{target} now publishes {source}'s tables[/] (one swap, nothing rebuilt)")


def rollback(
    environment: Annotated[str, typer.Argument(help="Environment to roll back.")] = "prod",
    to: Annotated[
        int | None,
        typer.Option(
            "--to", help="Deployment id to return to (default: the one before the latest)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish again what an earlier deployment published: no rebuild, seconds."""
    if OPTIONS.hub:
        from headgate.cli.remote import hub_rollback

        done = hub_rollback(environment, to)
    else:
        with project() as current:
            earlier, change = current.rollback(environment, to=to)
        done = {
            "environment": environment,
            "rolled_back_to": earlier,
            "deployment_id": change.deployment_id,
            "models": change.count,
        }
    if as_json:
        print_json(done)
    else:
        out.print(
            f"[green]{environment} rolled back[/] to deployment {done['rolled_back_to']}: "
            f"{done['models']} view(s) repointed"
        )


def deployments(
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The history of what each environment published: runs, deploys, rollbacks."""
    with project() as current:
        records = current.deployments(env, limit=limit)
    if as_json:
        print_json({"deployments": [jsonable(r) for r in records]})
        return
    table = Table(title="deployments", title_justify="left")
    for column in ("id", "environment", "kind", "from", "models", "user", "commit", "when"):
        table.add_column(column)
    for record in records:
        kind = record.kind + (f" → {record.rolled_back_to}" if record.rolled_back_to else "")
        table.add_row(
            str(record.id),
            record.environment,
            kind,
            record.from_environment or "",
            str(len(record.pointers)),
            record.username or "",
            (record.git_commit or "")[:8],
            record.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            if record.created_at
            else "",
        )
    out.print(table)


def janitor(
    retention_days: Annotated[
        float, typer.Option("--retention-days", min=0, help="Keep tables recent deployments used.")
    ] = 7.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be dropped.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Drop physical tables that no environment and no recent deployment points at."""
    with project() as current:
        result = current.janitor(retention_days=retention_days, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "dropped": result.dropped,
                "kept": result.kept,
                "bytes_freed": result.freed,
                "dry_run": dry_run,
            }
        )
        return
    verb = "would drop" if dry_run else "dropped"
    out.print(f"{verb} {len(result.dropped)} table(s), kept {result.kept}")
    if not dry_run:
        out.print(f"freed {_size(result.freed)}")


def _size(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{count} bytes"


def diff(
    model: Annotated[str, typer.Argument(help="Model to compare.")],
    env: Annotated[str, typer.Option("--env", "-e", help="One environment.")],
    against: Annotated[str, typer.Option("--against", help="The other environment.")] = "prod",
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="Key column(s); default: the model's unique_key."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare a model's data in two environments: rows only in each, and changed values by column."""
    with project() as current:
        result = current.diff(model, env, against, key=key)
    if as_json:
        print_json(result.to_json())
        return
    if result.same_table:
        out.print(
            f"{result.model}: {env} and {against} publish the same table ({result.rows_left:,} rows)"
        )
        return
    out.print(
        f"[bold]{result.model}[/]: {env} {result.rows_left:,} rows, {against} {result.rows_right:,} rows"
    )
    out.print(f"only in {env}: {result.only_left:,}; only in {against}: {result.only_right:,}")
    if result.key:
        out.print(f"changed (by {', '.join(result.key)}): {result.changed:,}")
        for column, count in result.column_changes.items():
            out.print(f"  {column}: {count:,} value(s) differ")
    else:
        out.print("no key: rows are compared whole (give --key to see changed values)")
    if result.columns_only_left or result.columns_only_right:
        out.print(
            f"columns only in {env}: {result.columns_only_left}; only in {against}: {result.columns_only_right}"
        )
    if result.sample:
        table = Table(title="sample of changed rows", title_justify="left")
        for column in result.sample[0]:
            table.add_column(column)
        for row in result.sample:
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        out.print(table)
    out.print("[green]identical[/]" if result.identical else "[yellow]different[/]")


def register(app: typer.Typer) -> None:
    app.add_typer(env_app, name="env")
    for command in (deploy, rollback, deployments, janitor, diff):
        app.command()(command)
