"""Who may do what: users, role grants, API tokens, secrets (never their values) and the
audit log. Every change is recorded in the audit log with who made it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _user

if TYPE_CHECKING:
    from headgate.security.accounts import Accounts
    from headgate.security.audit import Verdict
    from headgate.security.principal import Principal
    from headgate.security.vault import SecretInfo, Vault
    from headgate.state.guarded import AuditEntry
    from headgate.state.identities import GrantRecord, TokenRecord, UserRecord


class Governance(ProjectBase):
    # users and roles -----------------------------------------------------------------

    @property
    def accounts(self) -> Accounts:
        from headgate.security.accounts import Accounts

        return Accounts(self.state, protected=tuple(self.protected_environments))

    @property
    def protected_environments(self) -> list[str]:
        """Environments nothing writes to but a deploy (``security.protected``)."""
        return list(self.loaded.config.security.protected)

    def add_user(
        self, name: str, password: str | None, *, roles: list[tuple[str, str]] | None = None
    ) -> None:
        """A local user (``password`` None: one who signs in only by single sign-on),
        granted ``roles`` as (role, environment pattern)."""
        _manage_users()
        self.accounts.add(name, password, by=_user())
        self._audit("user.add", target=name)
        for role, environment in roles or []:
            self.grant(name, role, environment)

    def users(self) -> list[UserRecord]:
        return self.accounts.users()

    def set_password(self, name: str, password: str) -> None:
        """A new password; the user's open web sessions end."""
        _manage_users()
        self.accounts.set_password(name, password)
        self._audit("user.set_password", target=name)

    def disable_user(self, name: str, *, disabled: bool = True) -> None:
        """A disabled user cannot sign in and its sessions and tokens stop working at once."""
        _manage_users()
        self.accounts.set_disabled(name, disabled)
        self._audit("user.disable" if disabled else "user.enable", target=name)

    def grant(self, name: str, role: str, environment: str = "*") -> bool:
        """Grant ``role`` in ``environment`` (a name, a pattern such as ``dev-*``, or ``*``)."""
        _manage_users()
        added = self.accounts.grant(name, role, environment, by=_user())
        if added:
            self._audit("role.grant", environment=environment, target=name, detail={"role": role})
        return added

    def revoke(self, name: str, role: str, environment: str = "*") -> bool:
        _manage_users()
        removed = self.accounts.revoke(name, role, environment)
        if not removed:
            raise HeadgateError(
                f"{name} has no role {role} in {environment}",
                hint="see the grants with: headgate users list",
            )
        self._audit("role.revoke", environment=environment, target=name, detail={"role": role})
        return removed

    def grants(self, name: str | None = None) -> list[GrantRecord]:
        return self.accounts.grants(name)

    def principal(self, name: str) -> Principal | None:
        """What ``name`` may do now (None: no such user, or disabled)."""
        return self.accounts.principal(name)

    # API tokens ----------------------------------------------------------------------

    def create_token(
        self,
        name: str,
        roles: list[str],
        environments: list[str] | None = None,
        expires: datetime | None = None,
        *,
        owner: str | None = None,
    ) -> str:
        """A new API token for ``owner`` (the acting user by default); its value is returned
        here once and kept nowhere. It acts with at most its owner's rights."""
        from headgate.security import tokens
        from headgate.security.principal import demand
        from headgate.security.roles import Permission

        if owner is not None and owner != _owner():
            demand(Permission.USERS_MANAGE, "*")  # another person's token: an admin's work
        made = tokens.create(
            self.accounts,
            owner=owner or _owner(),
            name=name,
            roles=roles,
            environments=environments or ["*"],
            expires=expires,
        )
        self._audit(
            "token.create",
            target=f"{owner or _owner()}:{name}",
            detail={
                "id": made.id,
                "roles": sorted(roles),
                "environments": environments or ["*"],
                "expires": expires.isoformat() if expires else None,
            },
        )
        return made.value

    def tokens(self, owner: str | None = None) -> list[TokenRecord]:
        from headgate.security import tokens

        return tokens.listed(self.accounts, owner)

    def revoke_token(self, token_id: int) -> None:
        """Revoke a token: the next request made with it is refused."""
        from headgate.security import tokens

        found = tokens.revoke(self.accounts, token_id)
        self._audit("token.revoke", target=f"{found.owner}:{found.name}", detail={"id": token_id})

    # secrets -------------------------------------------------------------------------

    @property
    def _vault(self) -> Vault:
        from headgate.security.vault import Vault

        return Vault(self.state, self.root)

    def secret_set(self, name: str, value: str, *, environment: str = "*") -> None:
        """Store ``value`` encrypted for ``environment`` (``*``: every one); audited, never shown."""
        from headgate.sources.secrets import SECRET_NAME  # headgate.sources loads every reader

        if not SECRET_NAME.fullmatch(name):
            raise HeadgateError(
                f"'{name}' is not a secret name",
                hint="use letters, digits and '_'; start with a letter or '_'",
            )
        if environment != "*":
            self._environment(environment)
        if not value:
            raise HeadgateError(f"secret {name}: the value is empty")
        self._vault.set(name, value, environment=environment, by=_user())
        self._audit("secret.set", environment=environment, target=name)

    def secrets(self) -> list[SecretInfo]:
        return self._vault.list()

    def secret_delete(self, name: str, *, environment: str = "*") -> None:
        if not self._vault.delete(name, environment=environment):
            raise HeadgateError(
                f"no secret {name} set for {environment}",
                hint="list them with: headgate secrets list",
            )
        self._audit("secret.delete", environment=environment, target=name)

    def secrets_rotate_key(self) -> int:
        moved = self._vault.rotate_key()
        self._audit("secret.rotate_key", detail={"secrets": moved})
        return moved

    def audit_log(
        self,
        *,
        actor: str | None = None,
        environment: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int | None = 100,
        person: str | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every filter, oldest first; ``person`` matches a person and
        their tokens (``ann`` and ``ann:ci-deploy``), ``actor`` exactly."""
        if not person:
            return self.state.audit_entries(
                actor=actor, environment=environment, action=action, since=since, limit=limit
            )
        found = self.state.audit_entries(
            actor=actor, environment=environment, action=action, since=since, limit=None
        )
        found = [e for e in found if e.actor == person or (e.actor or "").startswith(person + ":")]
        return found[-limit:] if limit else found

    def audit_verify(self) -> Verdict:
        from headgate.security.audit import verify

        return verify(self.state)

    def audit_export(self) -> Iterator[str]:
        from headgate.security.audit import export_lines

        return export_lines(self.state)


def _owner() -> str:
    """The acting user's own name (a token's owner, not the token)."""
    from headgate.security.principal import acting

    principal = acting()
    return principal.name if principal is not None else _user()


def _manage_users() -> None:
    """Users and roles are an admin's (on every environment) when someone acts through
    the hub; a local command, run by whoever holds the project's store, passes."""
    from headgate.security.principal import demand
    from headgate.security.roles import EVERY, Permission

    demand(Permission.USERS_MANAGE, EVERY)
