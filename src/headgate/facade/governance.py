"""Secrets and the audit log: setting and listing secrets (never their values), the log itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _user

if TYPE_CHECKING:
    from headgate.security.audit import Verdict
    from headgate.security.vault import SecretInfo, Vault
    from headgate.state.guarded import AuditEntry


class Governance(ProjectBase):
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
    ) -> list[AuditEntry]:
        return self.state.audit_entries(
            actor=actor, environment=environment, action=action, since=since, limit=limit
        )

    def audit_verify(self) -> Verdict:
        from headgate.security.audit import verify

        return verify(self.state)

    def audit_export(self) -> Iterator[str]:
        from headgate.security.audit import export_lines

        return export_lines(self.state)
