"""A request signed with a token is checked in one query that reads the token, its
owner and the owner's grants afresh: a change to any of them holds at the next request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from headgate import Project
from headgate.security import tokens
from headgate.security.roles import Permission
from tests.support import write_project

GOOD = "correct horse battery staple"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    root = write_project(tmp_path / "p", {"models/a.sql": "select 1 as x"})
    with Project.load(root) as loaded:
        yield loaded


def statements_of(project: Project, value: str) -> tuple[Any, list[str]]:
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT")):
            seen.append(statement)

    engine = project.state.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        principal = tokens.authenticate(project.accounts, value, address=None)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return principal, seen


def test_a_token_is_checked_in_one_query_and_a_revoked_grant_holds_at_once(
    project: Project,
) -> None:
    project.add_user("ops", GOOD, roles=[("developer", "staging"), ("viewer", "*")])
    value = project.create_token("ci", ["developer", "viewer"], owner="ops")
    tokens.authenticate(project.accounts, value, address=None)  # notes its first use
    principal, seen = statements_of(project, value)
    assert len(seen) == 1, seen
    assert principal is not None and principal.actor == "ops:ci"
    assert principal.grants == (("viewer", "*"), ("developer", "staging"))
    assert principal.allows(Permission.RUNS_START, "staging")
    project.revoke("ops", "developer", "staging")
    principal, _ = statements_of(project, value)
    assert principal is not None and not principal.allows(Permission.RUNS_START, "staging")
    project.revoke("ops", "viewer", "*")
    principal, _ = statements_of(project, value)
    assert principal is not None and principal.grants == ()  # no grant left: nothing allowed
    assert not principal.allows_somewhere(Permission.RUNS_READ)


def test_a_token_of_a_disabled_or_unknown_owner_signs_nobody_in(project: Project) -> None:
    project.add_user("ann", GOOD, roles=[("viewer", "*")])
    value = project.create_token("reader", ["viewer"], owner="ann")
    project.disable_user("ann")
    assert tokens.authenticate(project.accounts, value, address=None) is None
    assert (
        tokens.authenticate(project.accounts, "hg_000000000000_" + "x" * 40, address=None) is None
    )
