"""Single sign-on with OpenID Connect: any standard provider, found by its discovery URL.

``/signin/oidc`` sends the browser to the provider (authorization code with PKCE, a state
and a nonce kept in a short-lived signed cookie); ``/signin/oidc/callback`` exchanges the
code (authlib), verifies the ID token's signature against the provider's JWKS and its
issuer, audience, expiry and nonce (joserfc), and signs the person in. Their roles come
from a claim (``security.oidc.roles_claim``, e.g. ``groups``) mapped in headgate.yml;
grants made this way are replaced at every sign-in, grants an admin made are kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from headgate.errors import HeadgateError
from headgate.security.audit import record
from headgate.security.roles import Permission
from headgate.server.auth import guard_of
from headgate.server.permissions import requires
from headgate.server.ui.signin import safe_next, start_session
from headgate.server.ui.templating import PageRoute

if TYPE_CHECKING:
    from headgate.project.access import OIDCConfig
    from headgate.server.auth import Guard

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PUBLIC = [Depends(requires(Permission.PUBLIC))]
FLOW_COOKIE = "headgate_oidc"
FLOW_SECONDS = 600
GRANTED_BY = "oidc"
SECRET_REFERENCE = re.compile(r"\$\{secret:([A-Za-z_][A-Za-z0-9_]*)\}")


class SignOnFailed(HeadgateError):
    status = 401


def _config(guard: Guard) -> OIDCConfig:
    config = guard.config.oidc
    if config is None:
        raise HeadgateError(
            "single sign-on is not set up", hint="add security.oidc to headgate.yml"
        )
    return config


def _discovery(config: OIDCConfig) -> dict[str, Any]:
    import httpx

    try:
        answer = httpx.get(config.discovery_url, timeout=10)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SignOnFailed(
            f"the sign-on provider's discovery document cannot be read: {exc}",
            hint=f"check security.oidc.discovery_url ({config.discovery_url})",
        ) from None
    return found


def _client_secret(guard: Guard, config: OIDCConfig) -> str | None:
    """The client secret, resolving ``${secret:NAME}`` (stored secrets, then the environment)."""
    value = config.client_secret
    if value is None:
        return None
    found = SECRET_REFERENCE.fullmatch(value.strip())
    if found is None:
        return value
    from headgate.security.vault import Vault

    name = found.group(1)
    default = guard.hub.project.outline.default_environment
    stored = Vault(guard.hub.store, guard.hub.root).get(name, default)
    return stored if stored is not None else os.environ.get(name)


def _sign(guard: Guard, payload: dict[str, Any]) -> str:
    data = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    mac = hmac.new(guard.session_key, data.encode(), hashlib.sha256).hexdigest()
    return f"{data}.{mac}"


def _unsign(guard: Guard, cookie: str | None) -> dict[str, Any] | None:
    if not cookie:
        return None
    data, _, mac = cookie.rpartition(".")
    expected = hmac.new(guard.session_key, data.encode(), hashlib.sha256).hexdigest()
    if not data or not hmac.compare_digest(mac, expected):
        return None
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(data))
    return payload if payload.get("until", 0) > time.time() else None


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@router.get("/signin/oidc", dependencies=PUBLIC)
def oidc_start(request: Request, next: str | None = None) -> Response:
    """To the provider, with a state, a nonce and a PKCE challenge."""
    from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]

    guard = guard_of(request)
    config = _config(guard)
    discovery = _discovery(config)
    state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
    client = OAuth2Client(
        config.client_id,
        scope=" ".join(config.scopes),
        redirect_uri=_callback_url(request),
        code_challenge_method="S256",
    )
    url, _ = client.create_authorization_url(
        discovery["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
    )
    flow = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": safe_next(next),
        "until": time.time() + FLOW_SECONDS,
    }
    answer = RedirectResponse(url, status_code=303)
    answer.set_cookie(
        FLOW_COOKIE,
        _sign(guard, flow),
        max_age=FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/signin/oidc",
    )
    return answer


@router.get("/signin/oidc/callback", dependencies=PUBLIC, name="oidc_callback")
def oidc_callback(request: Request, code: str = "", state: str = "") -> Response:
    """Back from the provider: the code for tokens, the ID token verified, a session."""
    guard = guard_of(request)
    config = _config(guard)
    flow = _unsign(guard, request.cookies.get(FLOW_COOKIE))
    if flow is None or not code or not hmac.compare_digest(flow["state"], state):
        raise SignOnFailed("the sign-on answer does not match a sign-in started here: try again")
    discovery = _discovery(config)
    claims = _verified_claims(request, guard, config, discovery, code, flow)
    username = str(claims.get(config.username_claim) or claims.get("email") or claims["sub"])
    values = claims.get(config.roles_claim) or []
    grants = config.grants_for([values] if isinstance(values, str) else [str(v) for v in values])
    address = request.client.host if request.client else None
    principal = _sign_on(guard, username, grants, address)
    answer = start_session(request, principal, flow["next"])
    answer.delete_cookie(FLOW_COOKIE, path="/signin/oidc")
    return answer


def _verified_claims(
    request: Request,
    guard: Guard,
    config: OIDCConfig,
    discovery: dict[str, Any],
    code: str,
    flow: dict[str, Any],
) -> dict[str, Any]:
    from authlib.integrations.httpx_client import OAuth2Client
    from joserfc import jwt
    from joserfc.jwk import KeySet

    client = OAuth2Client(
        config.client_id,
        _client_secret(guard, config),
        redirect_uri=_callback_url(request),
        token_endpoint_auth_method="client_secret_post",
    )
    try:
        tokens = client.fetch_token(
            discovery["token_endpoint"], code=code, code_verifier=flow["verifier"]
        )
        import httpx

        keys = KeySet.import_key_set(httpx.get(discovery["jwks_uri"], timeout=10).json())
        token = jwt.decode(tokens["id_token"], keys)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": discovery["issuer"]},
            aud={"essential": True, "value": config.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": flow["nonce"]},
        ).validate(token.claims)
    except Exception as exc:  # the provider, the network, the token: all refuse the same
        raise SignOnFailed(
            f"the sign-on provider's answer was refused: {type(exc).__name__}: {exc}",
            hint="sign in again; an admin finds the provider's settings in security.oidc",
        ) from None
    claims: dict[str, Any] = dict(token.claims)
    return claims


def _sign_on(
    guard: Guard, username: str, grants: list[tuple[str, str]], address: str | None
) -> Any:
    """The user (made on first sign-on), their sign-on grants replaced by ``grants``."""
    accounts = guard.accounts

    def sign_on() -> Any:
        user = accounts.table.user(username)
        if user is None:
            accounts.add(username, None, by=GRANTED_BY, source="oidc")
        elif user.disabled:
            record(
                guard.hub.store,
                "signin.failed",
                actor=username,
                address=address,
                detail={"method": "oidc", "reason": "disabled"},
            )
            raise SignOnFailed(f"{username} is disabled", hint="ask an admin")
        for old in accounts.grants(username):
            if old.granted_by == GRANTED_BY and (old.role, old.environment) not in grants:
                accounts.revoke(username, old.role, old.environment)
        for role, environment in grants:
            accounts.grant(username, role, environment, by=GRANTED_BY)
        record(
            guard.hub.store,
            "signin",
            actor=username,
            address=address,
            detail={"method": "oidc", "roles": [f"{r}@{e}" for r, e in grants]},
        )
        return accounts.principal(username, address=address)

    return sign_on()
