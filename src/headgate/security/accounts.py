"""Users and their role grants, and signing in with a password (throttled).

A sign-in that fails counts against the account and against the address it came from;
after :data:`ACCOUNT_LIMIT` failures within :data:`WINDOW` the account is locked for
:data:`LOCKOUT` (:data:`ADDRESS_LIMIT` for an address, so one machine cannot try many
accounts), and the lockout is written to the audit log. A locked account answers the
same as a wrong password to whoever tries, so it tells an attacker nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.security.audit import record
from headgate.security.passwords import check_password, hash_password, verify_password
from headgate.security.principal import Principal
from headgate.security.roles import EVERY, check_role
from headgate.state.identities import FailureRecord, GrantRecord, Identities, UserRecord
from headgate.state.sqltypes import now

if TYPE_CHECKING:
    from headgate.state.store import StateStore

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")
ENVIRONMENT_PATTERN = re.compile(r"\*|[A-Za-z][A-Za-z0-9_*-]{0,199}")
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


class SignInFailed(HeadgateError):
    status = 401

    def __init__(self) -> None:
        super().__init__(
            "wrong user name or password",
            hint="after several failures the account waits 15 minutes before it tries again",
        )


class Accounts:
    def __init__(self, store: StateStore, *, protected: tuple[str, ...] = ("prod",)) -> None:
        self.store = store
        self.table = Identities(store)
        self.protected = protected

    # users ------------------------------------------------------------------------

    def add(
        self, name: str, password: str | None, *, by: str | None, source: str = "local"
    ) -> None:
        if not USER_NAME.fullmatch(name):
            raise HeadgateError(
                f"'{name}' is not a user name",
                hint="use letters, digits and . _ @ + -; start with a letter or digit",
            )
        if password is not None:
            check_password(password, username=name)
        row = {
            "name": name,
            "password_hash": hash_password(password) if password is not None else None,
            "source": source,
            "disabled": False,
            "created_by": by,
            "password_changed_at": now() if password is not None else None,
        }
        if not self.table.add_user(row):
            raise HeadgateError(
                f"user {name} exists", hint="change a password with: headgate users set-password"
            )

    def user(self, name: str) -> UserRecord:
        found = self.table.user(name)
        if found is None:
            raise HeadgateError(f"no user named {name}", hint="list them with: headgate users list")
        return found

    def users(self) -> list[UserRecord]:
        return self.table.users()

    def set_password(self, name: str, password: str) -> None:
        self.user(name)
        check_password(password, username=name)
        self.table.update_user(
            name, password_hash=hash_password(password), password_changed_at=now()
        )
        self.table.end_sessions(username=name)  # a changed password signs every browser out

    def set_disabled(self, name: str, disabled: bool) -> None:
        self.user(name)
        self.table.update_user(name, disabled=disabled)
        if disabled:
            self.table.end_sessions(username=name)

    # role grants ------------------------------------------------------------------

    def grant(self, name: str, role: str, environment: str, *, by: str | None) -> bool:
        self.user(name)
        check_role(role)
        _check_pattern(environment)
        return self.table.grant(name, role, environment, by)

    def revoke(self, name: str, role: str, environment: str) -> bool:
        check_role(role)
        return self.table.revoke(name, role, environment)

    def grants(self, name: str | None = None) -> list[GrantRecord]:
        return self.table.grants(name)

    def principal(self, name: str, *, address: str | None = None) -> Principal | None:
        """The user's rights now; None when there is no such user or it is disabled."""
        user = self.table.user(name)
        if user is None or user.disabled:
            return None
        grants = tuple((g.role, g.environment) for g in self.table.grants(name))
        return Principal(name, grants, protected=self.protected, address=address)

    # signing in -------------------------------------------------------------------

    def sign_in(self, name: str, password: str, *, address: str | None) -> Principal:
        """The user's principal if ``password`` is theirs and nothing is locked."""
        keys = [f"user:{name.lower()}"] + ([f"address:{address}"] if address else [])
        at = now()
        locked = any(self._locked(key, at) for key in keys)
        user = self.table.user(name)
        good = verify_password(user.password_hash if user else None, password)
        if locked or not good or user is None or user.disabled:
            self._failed(name, keys, at, address, locked=locked)
            raise SignInFailed()
        self.table.clear_failures(keys[0])
        record(self.store, "signin", actor=name, address=address, detail={"method": "password"})
        principal = self.principal(name, address=address)
        assert principal is not None
        return principal

    def _locked(self, key: str, at: datetime) -> bool:
        found = self.table.failure(key)
        return bool(found and found.locked_until and found.locked_until > at)

    def _failed(
        self, name: str, keys: list[str], at: datetime, address: str | None, *, locked: bool
    ) -> None:
        reason = "locked" if locked else "wrong user name or password"
        record(self.store, "signin.failed", actor=name, address=address, detail={"reason": reason})
        for key in keys:
            found = self.table.failure(key)
            if found is None or at - found.first_at > WINDOW:
                found = FailureRecord(key, 0, at, None)
            if found.locked_until and found.locked_until > at:
                continue
            found.failures += 1
            limit = ACCOUNT_LIMIT if key.startswith("user:") else ADDRESS_LIMIT
            if found.failures >= limit:
                found.locked_until = at + LOCKOUT
                record(
                    self.store,
                    "signin.locked",
                    actor=name,
                    address=address,
                    target=key,
                    detail={"failures": found.failures, "minutes": LOCKOUT.seconds // 60},
                )
            self.table.put_failure(found)


def _check_pattern(environment: str) -> None:
    if not ENVIRONMENT_PATTERN.fullmatch(environment):
        raise HeadgateError(
            f"'{environment}' is not an environment or a pattern of them",
            hint=f"name one (prod), a family (dev-*) or every one ({EVERY})",
        )
