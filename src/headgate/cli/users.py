"""``headgate users ...`` and ``headgate tokens ...``: who may use the hub, and how.

These commands work on the project's metadata store directly: whoever can run them can
read that store and its key files, so they need no sign-in (it is how a fresh hub gets
its first admin: ``headgate users add NAME --role admin`` before ``headgate serve``).
A password is read from a hidden prompt or standard input, never from the command line;
a token is printed once, when it is created.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from headgate.cli.common import JsonOption, jsonable, out, print_json, project
from headgate.errors import HeadgateError

users_app = typer.Typer(help="Users and their roles per environment.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for people and machines.", no_args_is_help=True)

RoleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--role",
        "-r",
        help="role or role@environment (pattern): viewer, developer, deployer, admin, agent, "
        "events-writer; e.g. developer@dev-*. Repeatable.",
    ),
]


def _grant(text: str) -> tuple[str, str]:
    role, _, environment = text.partition("@")
    return role.strip(), environment.strip() or "*"


def _password(prompt: str) -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
        return value
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: RoleOption = None,
    sso_only: Annotated[
        bool, typer.Option("--sso-only", help="No password: signs in by single sign-on only.")
    ] = False,
) -> None:
    """Add a user; the password comes from a hidden prompt or standard input."""
    password = None if sso_only else _password(f"password for {name}")
    with project() as current:
        current.add_user(name, password, roles=[_grant(r) for r in role or []])
    granted = ", ".join(role or []) or "no role yet"
    out.print(f"[green]user {name} added[/] ({granted})")


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """Every user, whether enabled, and their roles per environment."""
    with project() as current:
        found = current.users()
        grants = current.grants()
    by_user: dict[str, list[str]] = {}
    for g in grants:
        by_user.setdefault(g.username, []).append(f"{g.role}@{g.environment}")
    if as_json:
        print_json(
            {
                "users": [
                    {**jsonable(u), "password_hash": None, "roles": by_user.get(u.name, [])}
                    for u in found
                ]
            }
        )
        return
    table = Table(title="users", title_justify="left")
    for column in ("name", "state", "roles", "signs in with", "added"):
        table.add_column(column)
    for u in found:
        table.add_row(
            u.name,
            "[red]disabled[/]" if u.disabled else "enabled",
            ", ".join(by_user.get(u.name, [])),
            "password" if u.password_hash else "single sign-on",
            u.created_at.astimezone().strftime("%Y-%m-%d"),
        )
    out.print(table)


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument()],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again.")] = False,
) -> None:
    """Disable a user: sessions and tokens stop working at once."""
    with project() as current:
        current.disable_user(name, disabled=not enable)
    out.print(f"[yellow]{name} {'enabled' if enable else 'disabled'}[/]")


@users_app.command("set-password")
def users_set_password(name: Annotated[str, typer.Argument()]) -> None:
    """A new password (hidden prompt or standard input); open sessions end."""
    password = _password(f"new password for {name}")
    with project() as current:
        current.set_password(name, password)
    out.print(f"[green]password of {name} changed[/]")


@users_app.command("grant")
def users_grant(
    name: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="role or role@environment, e.g. deployer@prod")],
) -> None:
    """Grant a role in an environment (a name, a pattern such as dev-*, or * for all)."""
    what, where = _grant(role)
    with project() as current:
        added = current.grant(name, what, where)
    out.print(f"[green]{name}: {what} in {where}[/]" + ("" if added else " (already)"))


@users_app.command("revoke")
def users_revoke(
    name: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="role or role@environment")],
) -> None:
    """Take a role back."""
    what, where = _grant(role)
    with project() as current:
        current.revoke(name, what, where)
    out.print(f"[yellow]{name}: no more {what} in {where}[/]")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. ci-deploy.")],
    role: RoleOption = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="Environment (or pattern) it may act in. Repeatable."),
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Expires after this many days.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Whose token (default: HEADGATE_USER).")
    ] = None,
) -> None:
    """Create a token and print it once: it is kept only as a hash."""
    from headgate.facade.base import _user

    owner = user or _user()
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    with project() as current:
        if current.accounts.table.user(owner) is None:
            raise HeadgateError(
                f"no user named {owner} to own the token",
                hint=f"add one with `headgate users add {owner}` or name it with --user",
            )
        value = current.create_token(name, role or [], env, expires, owner=owner)
    out.print(f"[green]token {name} created for {owner}[/]; it is shown this once:")
    print(value)


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Tokens with their scope, expiry and last use; never their value."""
    with project() as current:
        found = current.tokens(user)
    if as_json:
        print_json({"tokens": [{**jsonable(t), "hash": None} for t in found]})
        return
    table = Table(title="API tokens", title_justify="left")
    for column in ("id", "name", "user", "roles", "environments", "expires", "last used", "state"):
        table.add_column(column)
    for t in found:
        table.add_row(
            str(t.id),
            t.name,
            t.owner,
            ", ".join(t.roles),
            ", ".join(t.environments),
            _day(t.expires_at) or "never",
            _day(t.last_used_at) or "never",
            "[red]revoked[/]" if t.revoked_at else "active",
        )
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token: the next request made with it is refused."""
    with project() as current:
        current.revoke_token(token_id)
    out.print(f"[yellow]token {token_id} revoked[/]")


def _day(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else ""


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
