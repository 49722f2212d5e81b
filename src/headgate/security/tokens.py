"""API tokens: ``hg_<prefix>_<secret>``, shown once, kept as a SHA-256.

The prefix finds the token's row; the whole token's hash is compared in constant time.
A token carries a scope (roles, environments) and acts with at most its owner's rights
at the moment it is used: disabling the owner or revoking a grant takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from headgate.errors import HeadgateError
from headgate.security.accounts import Accounts, _check_pattern
from headgate.security.principal import Principal
from headgate.security.roles import check_role
from headgate.state.identities import TokenRecord
from headgate.state.sqltypes import now

SHAPE = re.compile(r"hg_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{20,100})")
TOUCH_EVERY = timedelta(seconds=60)  # last-used is written at most once a minute per token


@dataclass
class NewToken:
    id: int
    value: str  # shown once, kept nowhere


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create(
    accounts: Accounts,
    *,
    owner: str,
    name: str,
    roles: list[str],
    environments: list[str],
    expires: datetime | None,
) -> NewToken:
    accounts.user(owner)
    if not name.strip() or len(name) > 200:
        raise HeadgateError("a token needs a name (up to 200 characters)", hint="e.g. ci-deploy")
    if not roles:
        raise HeadgateError("a token needs at least one role", hint="e.g. --role deployer")
    for role in roles:
        check_role(role)
    for environment in environments:
        _check_pattern(environment)
    if expires is not None and expires <= now():
        raise HeadgateError("the token's expiry is in the past")
    prefix = secrets.token_hex(6)
    value = f"hg_{prefix}_{secrets.token_urlsafe(32)}"
    row = {
        "prefix": prefix,
        "hash": digest(value),
        "name": name,
        "owner": owner,
        "roles": sorted(set(roles)),
        "environments": sorted(set(environments or ["*"])),
        "expires_at": expires,
    }
    return NewToken(accounts.table.add_token(row), value)


def authenticate(accounts: Accounts, value: str, *, address: str | None) -> Principal | None:
    """The token's principal; None when it is unknown, revoked, expired or its owner is
    disabled (all answered alike). The token, its owner and the owner's grants are read
    in one query, afresh for every request: a revocation holds at once."""
    shape = SHAPE.fullmatch(value.strip())
    if shape is None:
        return None
    read = accounts.table.token_with_owner(shape.group(1))
    if read is None or not hmac.compare_digest(read.token.hash, digest(value.strip())):
        return None
    found, at = read.token, now()
    if found.revoked_at is not None or (found.expires_at is not None and found.expires_at <= at):
        return None
    if not read.owner_active:
        return None
    if found.last_used_at is None or at - found.last_used_at > TOUCH_EVERY:
        accounts.table.touch_token(found.id, at)
    return Principal(
        found.owner,
        read.grants,
        protected=accounts.protected,
        token=found.name,
        token_roles=tuple(found.roles),
        token_environments=tuple(found.environments),
        address=address,
    )


def listed(accounts: Accounts, owner: str | None = None) -> list[TokenRecord]:
    return accounts.table.tokens(owner)


def revoke(accounts: Accounts, token_id: int) -> TokenRecord:
    found = accounts.table.token(token_id)
    if found is None:
        raise HeadgateError(f"no token {token_id}", hint="list them with: headgate tokens list")
    if not accounts.table.revoke_token(token_id):
        raise HeadgateError(f"token {token_id} ({found.name}) was revoked already")
    return found
