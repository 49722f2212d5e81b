"""``security:`` in headgate.yml: protected environments, web sessions, single sign-on.

```yaml
security:
  protected: [prod]            # names or patterns; nothing but a deploy writes them
  session_idle_minutes: 30
  session_hours: 12
  oidc:
    discovery_url: https://login.example.com/.well-known/openid-configuration
    client_id: headgate
    client_secret: ${secret:OIDC_CLIENT_SECRET}
    roles_claim: groups        # the claim whose values are mapped to roles
    roles:                     # claim value -> role, or role@environment pattern
      data-engineers: [developer@dev-*, viewer]
      data-leads: [deployer]
```
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from headgate.project.strict import StrictModel

GRANT = re.compile(r"([a-z-]+)(?:@(\*|[A-Za-z][A-Za-z0-9_*-]*))?")


class OIDCConfig(StrictModel):
    discovery_url: str = Field(description="the provider's .well-known/openid-configuration")
    client_id: str
    client_secret: str | None = Field(default=None, description="may be ${secret:NAME}")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    username_claim: str = "preferred_username"
    roles_claim: str = "groups"
    roles: dict[str, list[str]] = Field(
        default_factory=dict, description="claim value -> [role or role@environment]"
    )
    label: str = Field(default="single sign-on", description="the sign-in button's words")

    @field_validator("roles")
    @classmethod
    def _grants(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from headgate.security.roles import ROLES

        for claim, grants in value.items():
            for grant in grants:
                found = GRANT.fullmatch(grant)
                if found is None or found.group(1) not in ROLES:
                    raise ValueError(
                        f"{claim}: '{grant}' is not a role or role@environment "
                        f"(roles: {', '.join(ROLES)})"
                    )
        return value

    def grants_for(self, claim_values: list[str]) -> list[tuple[str, str]]:
        """(role, environment pattern) for a user whose claim holds ``claim_values``.

        >>> config = OIDCConfig(discovery_url="x", client_id="y",
        ...                     roles={"eng": ["developer@dev-*", "viewer"]})
        >>> config.grants_for(["eng", "other"])
        [('developer', 'dev-*'), ('viewer', '*')]
        """
        found: list[tuple[str, str]] = []
        for value in claim_values:
            for grant in self.roles.get(value, []):
                match = GRANT.fullmatch(grant)
                assert match is not None
                found.append((match.group(1), match.group(2) or "*"))
        return found


class SecurityConfig(StrictModel):
    protected: list[str] = Field(
        default_factory=lambda: ["prod"],
        description="environments nothing writes to except a deploy or a scheduled run",
    )
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    oidc: OIDCConfig | None = None
