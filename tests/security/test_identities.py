"""Users, role grants, API tokens, sessions and sign-in throttling, through the facade."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import HeadgateError
from headgate.security import sessions, tokens
from headgate.security.accounts import ACCOUNT_LIMIT, SignInFailed
from headgate.security.principal import Refused, acting_as, demand
from headgate.security.roles import PERMISSION_ROLES, Permission
from tests.support import write_project

FILES = {"models/a.sql": "select 1 as x"}
GOOD = "correct horse battery staple"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = write_project(tmp_path / "p", FILES)
    with Project.load(root) as loaded:
        yield loaded


def test_every_permission_has_its_roles_and_admin_holds_all() -> None:
    assert set(PERMISSION_ROLES) == set(Permission)
    assert all("admin" in roles for roles in PERMISSION_ROLES.values())


def test_passwords_are_hashed_with_argon2id_and_weak_ones_refused(project: Project) -> None:
    for weak in ("short", "Password2024!", "qwertyuiop12", "ann-and-ann-1234"):
        with pytest.raises(HeadgateError, match="password is refused"):
            project.add_user("ann", weak)
    project.add_user("ann", GOOD, roles=[("developer", "dev-*"), ("viewer", "*")])
    stored = project.accounts.user("ann").password_hash or ""
    assert stored.startswith("$argon2id$") and GOOD not in stored
    with pytest.raises(HeadgateError, match="exists"):
        project.add_user("ann", GOOD)
    ann = project.accounts.sign_in("ann", GOOD, address="10.0.0.7")
    assert ann.allows(Permission.RUNS_START, "dev-ann")
    assert not ann.allows(Permission.RUNS_START, "prod")
    assert ann.allows(Permission.DATA_QUERY, "prod")
    assert not ann.allows(Permission.DEPLOY, "prod")


def test_protected_environments_take_no_run_even_from_an_admin(project: Project) -> None:
    project.add_user("root-admin", GOOD, roles=[("admin", "*")])
    admin = project.principal("root-admin")
    assert admin is not None
    assert not admin.allows(Permission.RUNS_START, "prod")
    assert admin.allows(Permission.DEPLOY, "prod") and admin.allows(Permission.RUNS_START, "dev")
    with acting_as(admin), pytest.raises(Refused, match="may not environments:delete") as refused:
        demand(Permission.ENVIRONMENTS_DELETE, "prod")
    assert "prod is protected" in (refused.value.hint or "")


def test_lockout_after_repeated_failures_is_audited(project: Project) -> None:
    project.add_user("bob", GOOD, roles=[("viewer", "*")])
    for _ in range(ACCOUNT_LIMIT):
        with pytest.raises(SignInFailed):
            project.accounts.sign_in("bob", "not the password", address="10.0.0.9")
    with pytest.raises(SignInFailed):  # locked: the right password does not help now
        project.accounts.sign_in("bob", GOOD, address="10.0.0.9")
    actions = [e.action for e in project.audit_log(actor="bob")]
    assert actions.count("signin.failed") == ACCOUNT_LIMIT + 1
    assert "signin.locked" in actions
    assert all(e.address == "10.0.0.9" for e in project.audit_log(actor="bob"))
    store = project.root / ".headgate/state.db"
    with sqlite3.connect(store) as con:  # the lock ends by itself
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        con.execute("update login_failures set locked_until = ?", (past,))
    assert project.accounts.sign_in("bob", GOOD, address="10.0.0.9").name == "bob"


def test_tokens_are_shown_once_scoped_and_revocable(project: Project) -> None:
    project.add_user("ci", GOOD, roles=[("deployer", "*")])
    value = project.create_token("deploys", ["deployer"], ["prod"], owner="ci")
    assert value.startswith("hg_")
    listed = project.tokens()
    assert [t.name for t in listed] == ["deploys"] and value not in str(listed)
    assert listed[0].hash != value and value.startswith(f"hg_{listed[0].prefix}_")
    principal = tokens.authenticate(project.accounts, value, address=None)
    assert principal is not None and principal.actor == "ci:deploys"
    assert principal.allows(Permission.DEPLOY, "prod")
    assert not principal.allows(Permission.DEPLOY, "test")  # outside the token's scope
    assert project.tokens()[0].last_used_at is not None
    project.revoke_token(listed[0].id)
    assert tokens.authenticate(project.accounts, value, address=None) is None
    assert tokens.authenticate(project.accounts, value[:-1] + "x", address=None) is None
    actions = [e.action for e in project.audit_log()]
    assert "token.create" in actions and "token.revoke" in actions
    assert value not in str(project.audit_log())


def test_a_token_never_does_more_than_its_owner_may(project: Project) -> None:
    project.add_user("ann", GOOD, roles=[("viewer", "*")])
    value = project.create_token("too-much", ["admin"], owner="ann")
    principal = tokens.authenticate(project.accounts, value, address=None)
    assert principal is not None and not principal.allows(Permission.USERS_MANAGE, "*")
    project.disable_user("ann")
    assert tokens.authenticate(project.accounts, value, address=None) is None
    expired = project.create_token(
        "short", ["viewer"], expires=datetime.now(UTC) + timedelta(seconds=1), owner="ann"
    )
    project.disable_user("ann", disabled=False)
    with sqlite3.connect(project.root / ".headgate/state.db") as con:
        con.execute("update api_tokens set expires_at = created_at where name = 'short'")
    assert tokens.authenticate(project.accounts, expired, address=None) is None


def test_sessions_end_at_sign_out_idle_and_password_change(project: Project) -> None:
    project.add_user("ann", GOOD, roles=[("viewer", "*")])
    key = sessions.session_key(project.root)
    ann = project.accounts.sign_in("ann", GOOD, address=None)
    made = sessions.start(project.accounts, key, ann)
    found = sessions.resolve(project.accounts, key, made.cookie, address=None)
    assert found is not None and found.session_csrf == made.csrf
    forged = made.cookie.split(".")[0] + ".0000"
    assert sessions.resolve(project.accounts, key, forged, address=None) is None
    assert sessions.end(project.accounts, key, made.cookie) == "ann"
    assert sessions.resolve(project.accounts, key, made.cookie, address=None) is None
    idle = sessions.start(project.accounts, key, ann)
    assert (
        sessions.resolve(project.accounts, key, idle.cookie, address=None, idle=timedelta(0))
        is None
    )
    kept = sessions.start(project.accounts, key, ann)
    project.set_password("ann", "another long pass phrase")
    assert sessions.resolve(project.accounts, key, kept.cookie, address=None) is None
    assert (project.root / ".headgate/session.key").stat().st_mode & 0o077 == 0
