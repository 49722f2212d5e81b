"""Store queries for users, role grants, API tokens, web sessions and failed sign-ins.

Only hashes are kept: a password's argon2id hash, a token's and a session id's SHA-256.
:class:`Identities` is opened on a :class:`~headgate.state.store.StateStore` and shares
its database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from headgate.state.quickread import quick_read
from headgate.state.sqltypes import now
from headgate.state.tables import api_tokens, login_failures, role_grants, users, web_sessions

if TYPE_CHECKING:
    from headgate.state.database import Database
    from headgate.state.store import StateStore


@dataclass
class UserRecord:
    name: str
    password_hash: str | None
    source: str
    disabled: bool
    created_at: datetime
    created_by: str | None
    password_changed_at: datetime | None


@dataclass
class GrantRecord:
    username: str
    role: str
    environment: str
    granted_by: str | None
    granted_at: datetime


@dataclass
class TokenRecord:
    id: int
    prefix: str
    hash: str
    name: str
    owner: str
    roles: list[str]
    environments: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass
class TokenWithOwner:
    """A token and, read with it, whether its owner exists and is enabled, and the
    owner's grants (role, environment pattern)."""

    token: TokenRecord
    owner_active: bool
    grants: tuple[tuple[str, str], ...]


@dataclass
class SessionRecord:
    id_hash: str
    username: str
    csrf: str
    address: str | None
    created_at: datetime
    seen_at: datetime
    ended_at: datetime | None


@dataclass
class FailureRecord:
    key: str
    failures: int
    first_at: datetime
    locked_until: datetime | None


class Identities:
    """The identity tables of one metadata store."""

    def __init__(self, store: StateStore) -> None:
        self._db: Database = store._db

    # users ------------------------------------------------------------------------

    def add_user(self, row: dict[str, Any]) -> bool:
        """Insert a user; False when the name is taken."""
        with self._db.write("adding a user") as conn:
            return self._db.insert_if_absent(conn, users, {**row, "created_at": now()})

    def user(self, name: str) -> UserRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        return UserRecord(**dict(row._mapping)) if row else None

    def users(self) -> list[UserRecord]:
        with self._db.read() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
        return [UserRecord(**dict(row._mapping)) for row in rows]

    def update_user(self, name: str, **values: Any) -> bool:
        with self._db.write("changing a user") as conn:
            done = conn.execute(update(users).where(users.c.name == name).values(**values))
        return bool(done.rowcount)

    # role grants ------------------------------------------------------------------

    def grant(self, username: str, role: str, environment: str, by: str | None) -> bool:
        """Add a grant; False when it was there already."""
        row = {
            "username": username,
            "role": role,
            "environment": environment,
            "granted_by": by,
            "granted_at": now(),
        }
        with self._db.write("granting a role") as conn:
            exists = conn.execute(
                select(role_grants.c.role).where(
                    role_grants.c.username == username,
                    role_grants.c.role == role,
                    role_grants.c.environment == environment,
                )
            ).first()
            if exists:
                return False
            conn.execute(insert(role_grants).values(**row))
        return True

    def revoke(self, username: str, role: str, environment: str) -> bool:
        with self._db.write("revoking a role") as conn:
            done = conn.execute(
                delete(role_grants).where(
                    role_grants.c.username == username,
                    role_grants.c.role == role,
                    role_grants.c.environment == environment,
                )
            )
        return bool(done.rowcount)

    def grants(self, username: str | None = None) -> list[GrantRecord]:
        query = select(role_grants).order_by(
            role_grants.c.username, role_grants.c.environment, role_grants.c.role
        )
        if username is not None:
            query = query.where(role_grants.c.username == username)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [GrantRecord(**dict(row._mapping)) for row in rows]

    # API tokens -------------------------------------------------------------------

    def add_token(self, row: dict[str, Any]) -> int:
        with self._db.write("creating a token") as conn:
            inserted = conn.execute(
                insert(api_tokens).values(**row, created_at=now()).returning(api_tokens.c.id)
            )
            return int(inserted.scalar_one())

    def token_by_prefix(self, prefix: str) -> TokenRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.prefix == prefix)).first()
        return TokenRecord(**dict(row._mapping)) if row else None

    def token_with_owner(self, prefix: str) -> TokenWithOwner | None:
        """The token with this prefix, its owner's state and grants, in one query (one
        row per grant): what signing in by token needs, read afresh for every request."""
        query = (
            select(
                api_tokens,
                users.c.disabled.label("owner_disabled"),
                role_grants.c.role.label("grant_role"),
                role_grants.c.environment.label("grant_environment"),
            )
            .select_from(api_tokens)
            .outerjoin(users, users.c.name == api_tokens.c.owner)
            .outerjoin(role_grants, role_grants.c.username == users.c.name)
            .where(api_tokens.c.prefix == prefix)
            .order_by(role_grants.c.environment, role_grants.c.role)
        )
        with quick_read(self._db) as conn:  # every request signed with a token reads it
            rows = [dict(row._mapping) for row in conn.execute(query)]
        if not rows:
            return None
        extra = ("owner_disabled", "grant_role", "grant_environment")
        token = TokenRecord(**{k: v for k, v in rows[0].items() if k not in extra})
        if rows[0]["owner_disabled"] is None:  # the owner is gone
            return TokenWithOwner(token, owner_active=False, grants=())
        grants = tuple(
            (str(r["grant_role"]), str(r["grant_environment"]))
            for r in rows
            if r["grant_role"] is not None
        )
        return TokenWithOwner(token, owner_active=not rows[0]["owner_disabled"], grants=grants)

    def token(self, token_id: int) -> TokenRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return TokenRecord(**dict(row._mapping)) if row else None

    def tokens(self, owner: str | None = None) -> list[TokenRecord]:
        query = select(api_tokens).order_by(api_tokens.c.id)
        if owner is not None:
            query = query.where(api_tokens.c.owner == owner)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [TokenRecord(**dict(row._mapping)) for row in rows]

    def touch_token(self, token_id: int, at: datetime) -> None:
        with self._db.write("noting a token's use") as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=at)
            )

    def revoke_token(self, token_id: int) -> bool:
        with self._db.write("revoking a token") as conn:
            done = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )
        return bool(done.rowcount)

    # web sessions -----------------------------------------------------------------

    def add_session(self, row: dict[str, Any]) -> None:
        at = now()
        with self._db.write("starting a session") as conn:
            conn.execute(insert(web_sessions).values(**row, created_at=at, seen_at=at))

    def session(self, id_hash: str) -> SessionRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(web_sessions).where(web_sessions.c.id_hash == id_hash)
            ).first()
        return SessionRecord(**dict(row._mapping)) if row else None

    def touch_session(self, id_hash: str, at: datetime) -> None:
        with self._db.write("noting a session's use") as conn:
            conn.execute(
                update(web_sessions).where(web_sessions.c.id_hash == id_hash).values(seen_at=at)
            )

    def end_sessions(self, *, id_hash: str | None = None, username: str | None = None) -> int:
        """End one session, or every open session of a user."""
        query = update(web_sessions).where(web_sessions.c.ended_at.is_(None))
        if id_hash is not None:
            query = query.where(web_sessions.c.id_hash == id_hash)
        if username is not None:
            query = query.where(web_sessions.c.username == username)
        with self._db.write("ending a session") as conn:
            return int(conn.execute(query.values(ended_at=now())).rowcount or 0)

    # failed sign-ins --------------------------------------------------------------

    def failure(self, key: str) -> FailureRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(login_failures).where(login_failures.c.key == key)).first()
        return FailureRecord(**dict(row._mapping)) if row else None

    def put_failure(self, record: FailureRecord) -> None:
        with self._db.write("counting a failed sign-in") as conn:
            self._db.upsert(conn, login_failures, ("key",), [record.__dict__])

    def clear_failures(self, key: str) -> None:
        with self._db.write("clearing failed sign-ins") as conn:
            conn.execute(delete(login_failures).where(login_failures.c.key == key))
