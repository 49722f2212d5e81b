"""Web sessions: a random id in a signed cookie, its row (hash only) in the metadata store.

A session ends after :data:`IDLE` without a request, after :data:`ABSOLUTE` whatever
happens, at sign-out, when its user is disabled or changes password. The cookie is
``<id>.<HMAC-SHA256 of the id>`` under the hub's session key (``HEADGATE_SESSION_KEY``,
else ``.headgate/session.key``, created readable by its owner only), so a cookie not made
by this hub is refused before the store is asked. Each session holds a CSRF token, which
every state-changing request made with the cookie must carry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from headgate.errors import HeadgateError
from headgate.security.accounts import Accounts
from headgate.security.principal import Principal
from headgate.state.sqltypes import now

KEY_FILE = ".headgate/session.key"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=30)


@dataclass
class NewSession:
    cookie: str
    csrf: str


def session_key(project_dir: Path) -> bytes:
    """The key cookies are signed with."""
    from_env = os.environ.get("HEADGATE_SESSION_KEY")
    if from_env:
        return from_env.encode()
    path = project_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(48) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HeadgateError(
            f"{path} can be read by others (mode {stat.filemode(mode)}): refused",
            hint=f"chmod 600 {path}",
        )
    return path.read_text().strip().encode()


def _sign(key: bytes, session_id: str) -> str:
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(accounts: Accounts, key: bytes, principal: Principal) -> NewSession:
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    accounts.table.add_session(
        {
            "id_hash": _hash(session_id),
            "username": principal.name,
            "csrf": csrf,
            "address": principal.address,
        }
    )
    return NewSession(f"{session_id}.{_sign(key, session_id)}", csrf)


def _session_id(key: bytes, cookie: str) -> str | None:
    session_id, _, signature = cookie.partition(".")
    if not session_id or not hmac.compare_digest(signature, _sign(key, session_id)):
        return None
    return session_id


def resolve(
    accounts: Accounts,
    key: bytes,
    cookie: str,
    *,
    address: str | None,
    idle: timedelta = IDLE,
    absolute: timedelta = ABSOLUTE,
) -> Principal | None:
    """The session's principal (with its CSRF token), or None when it is not valid now."""
    session_id = _session_id(key, cookie)
    if session_id is None:
        return None
    found = accounts.table.session(_hash(session_id))
    at = now()
    if found is None or found.ended_at is not None:
        return None
    if at - found.seen_at > idle or at - found.created_at > absolute:
        accounts.table.end_sessions(id_hash=found.id_hash)
        return None
    principal = accounts.principal(found.username, address=address)
    if principal is None:
        return None
    if at - found.seen_at > TOUCH_EVERY:
        accounts.table.touch_session(found.id_hash, at)
    return replace(principal, session_csrf=found.csrf)


def end(accounts: Accounts, key: bytes, cookie: str) -> str | None:
    """End the cookie's session; the name of its user, if it was valid."""
    session_id = _session_id(key, cookie)
    if session_id is None:
        return None
    found = accounts.table.session(_hash(session_id))
    if found is None or found.ended_at is not None:
        return None
    accounts.table.end_sessions(id_hash=found.id_hash)
    return found.username


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a request's CSRF token with its session's."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
