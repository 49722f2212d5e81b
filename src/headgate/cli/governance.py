"""Commands for secrets (values in from standard input, never out) and the audit log."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from headgate.cli.common import JsonOption, jsonable, out, print_json, project

secrets_app = typer.Typer(
    help="Secrets, encrypted in the metadata store per environment; values never shown.",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    help="The audit log: every change, who, when; tamper-evident.", invoke_without_command=True
)

EnvOption = Annotated[
    str, typer.Option("--env", "-e", help="Environment it is for; '*' (default): every one.")
]


@secrets_app.command("set")
def secrets_set(
    name: Annotated[str, typer.Argument(help="Secret name, e.g. SHOP_DB_URL.")],
    env: EnvOption = "*",
) -> None:
    """Set a secret from standard input (or a hidden prompt): never from the command line."""
    if sys.stdin.isatty():
        value = typer.prompt(f"value of {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().rstrip("\n")
    with project() as current:
        current.secret_set(name, value, environment=env)
    out.print(f"[green]{name} set[/] for {'every environment' if env == '*' else env}")


@secrets_app.command("list")
def secrets_list(as_json: JsonOption = False) -> None:
    """Each secret's name, environment, who set it and when; never its value."""
    with project() as current:
        found = current.secrets()
    if as_json:
        print_json({"secrets": [jsonable(s) for s in found]})
        return
    table = Table(title="secrets", title_justify="left")
    for column in ("name", "environment", "set by", "when"):
        table.add_column(column)
    for s in found:
        table.add_row(
            s.name,
            s.environment,
            s.updated_by or "",
            s.updated_at.astimezone().strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@secrets_app.command("delete")
def secrets_delete(
    name: Annotated[str, typer.Argument(help="Secret to delete.")], env: EnvOption = "*"
) -> None:
    """Delete a secret (for one environment, or the one set for every environment)."""
    with project() as current:
        current.secret_delete(name, environment=env)
    out.print(f"[yellow]{name} deleted[/] for {env}")


@secrets_app.command("rotate-key")
def secrets_rotate_key() -> None:
    """Encrypt every secret with a new key and drop the old one (the key file's)."""
    with project() as current:
        moved = current.secrets_rotate_key()
    out.print(f"[green]new key[/]: {moved} secret(s) re-encrypted, the old key dropped")


@audit_app.callback()
def audit_list(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="Only this person or token.")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. deploy.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The latest entries, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    with project() as current:
        entries = current.audit_log(actor=actor, environment=env, action=action, limit=limit)
    if as_json:
        print_json({"entries": [jsonable(e) for e in entries]})
        return
    table = Table(title="audit log", title_justify="left")
    for column in ("id", "when", "who", "action", "environment", "what"):
        table.add_column(column)
    for e in entries:
        what = e.target or ""
        if e.detail:
            what += (" " if what else "") + ", ".join(
                f"{k}={v}" for k, v in e.detail.items() if v is not None
            )
        table.add_row(
            str(e.id),
            e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            e.actor or "",
            e.action,
            e.environment or "",
            what,
        )
    out.print(table)


@audit_app.command("verify")
def audit_verify(as_json: JsonOption = False) -> None:
    """Check the chain of hashes: an edited or deleted entry is found; exit 1 if so."""
    with project() as current:
        verdict = current.audit_verify()
    if as_json:
        print_json(jsonable(verdict) | {"ok": verdict.ok})
    elif verdict.ok:
        out.print(
            f"[green]audit log intact[/]: {verdict.entries} entries, every hash and link holds"
        )
    else:
        out.print(f"[red]audit log broken at entry {verdict.broken_at}[/]: {verdict.reason}")
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export() -> None:
    """The whole log as JSON lines on standard output, hashes included."""
    with project() as current:
        for line in current.audit_export():
            sys.stdout.write(line + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")
    app.add_typer(audit_app, name="audit")
