"""Single sign-on against a real OpenID Connect provider started on loopback: discovery
document, authorization endpoint, token endpoint (PKCE checked) and JWKS, with ID tokens
signed by joserfc. The hub's code path is the one a production provider meets."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from headgate import Project
from tests.server.hubs import free_port, make_project, serving

CLIENT_ID, CLIENT_SECRET = "headgate-hub", "client-secret-for-tests"


@dataclass
class Provider:
    url: str
    key: RSAKey
    person: dict[str, Any]  # the claims of whoever signs in next
    audience: str = CLIENT_ID
    signer: RSAKey | None = None  # another key: a forged token
    pending: dict[str, dict[str, str]] = field(default_factory=dict)


@contextmanager
def provider() -> Iterator[Provider]:
    port = free_port()
    found = Provider(f"http://127.0.0.1:{port}", RSAKey.generate_key(2048), {})
    found.key.ensure_kid()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _json(self, body: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._json(
                    {
                        "issuer": found.url,
                        "authorization_endpoint": f"{found.url}/authorize",
                        "token_endpoint": f"{found.url}/token",
                        "jwks_uri": f"{found.url}/jwks",
                        "response_types_supported": ["code"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                )
            elif parts.path == "/jwks":
                self._json({"keys": [found.key.as_dict(private=False)]})
            elif parts.path == "/authorize":  # the person is signed in and consents at once
                assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
                code = secrets.token_urlsafe(16)
                found.pending[code] = query
                back = (
                    f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                )
                self.send_response(302)
                self.send_header("Location", back)
                self.end_headers()
            else:
                self._json({"error": "not_found"}, 404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            asked = found.pending.pop(form.get("code", ""), None)
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            ).rstrip(b"=")
            if (
                asked is None
                or form.get("client_secret") != CLIENT_SECRET
                or challenge.decode() != asked["code_challenge"]
            ):
                self._json({"error": "invalid_grant"}, 400)
                return
            now = int(time.time())
            claims = {
                "iss": found.url,
                "aud": found.audience,
                "iat": now,
                "exp": now + 300,
                "nonce": asked["nonce"],
                **found.person,
            }
            key = found.signer or found.key
            header = {"alg": "RS256", "kid": found.key.kid}
            token = jwt.encode(header, claims, key)
            self._json({"access_token": "at", "token_type": "Bearer", "id_token": token})

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield found
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Provider]]:
    with provider() as idp:
        root = make_project(tmp_path_factory.mktemp("oidc") / "shop")
        config = (root / "headgate.yml").read_text()
        (root / "headgate.yml").write_text(
            config
            + f"""
security:
  oidc:
    discovery_url: {idp.url}/.well-known/openid-configuration
    client_id: {CLIENT_ID}
    client_secret: ${{secret:OIDC_SECRET}}
    roles_claim: groups
    roles:
      data-engineers: [developer@dev-*, viewer]
      leads: [deployer]
"""
        )
        with Project.load(root) as project:
            project.secret_set("OIDC_SECRET", CLIENT_SECRET)
        with serving(root, ui=True) as served:
            yield served, idp


@contextmanager
def sign_on(url: str) -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """A browser's walk through the provider and back: a client with the session cookie,
    and the page it landed on."""
    with httpx.Client(base_url=url, timeout=60, follow_redirects=True) as client:
        yield client, client.get("/signin/oidc", params={"next": "/environments"})


def test_a_person_signs_on_and_gets_the_roles_their_groups_map_to(
    signed: tuple[Any, Provider],
) -> None:
    served, idp = signed
    idp.person = {"sub": "u-1", "preferred_username": "olga", "groups": ["data-engineers"]}
    with sign_on(served.url) as (browser, landed):
        assert landed.status_code == 200 and landed.url.path == "/environments"
        assert "olga" in landed.text  # signed in, named in the page's head
        refused = browser.post("/api/v1/environments", json={"name": "prod-x", "from": "prod"})
        assert refused.status_code == 403  # developer in dev-* only (and no CSRF token here)
    with Project.load(served.hub.root) as project:
        grants = {(g.role, g.environment) for g in project.grants("olga")}
        assert grants == {("developer", "dev-*"), ("viewer", "*")}
        assert project.accounts.user("olga").source == "oidc"
        methods = [e.detail.get("method") for e in project.audit_log(actor="olga")]
        assert "oidc" in methods
    idp.person = {"sub": "u-1", "preferred_username": "olga", "groups": ["leads"]}
    with sign_on(served.url):
        pass
    with Project.load(served.hub.root) as project:  # the sign-on grants follow the groups
        assert {(g.role, g.environment) for g in project.grants("olga")} == {("deployer", "*")}


def test_a_forged_or_misdirected_token_is_refused(signed: tuple[Any, Provider]) -> None:
    served, idp = signed
    idp.person = {"sub": "u-2", "preferred_username": "mallory", "groups": ["leads"]}
    idp.signer = RSAKey.generate_key(2048)  # not the key the JWKS publishes
    try:
        with sign_on(served.url) as (browser, landed):
            assert landed.status_code == 401
            assert "headgate_session" not in browser.cookies
    finally:
        idp.signer = None
    idp.audience = "another-client"
    try:
        with sign_on(served.url) as (_, landed):
            assert landed.status_code == 401
    finally:
        idp.audience = CLIENT_ID
    with Project.load(served.hub.root) as project:
        assert project.accounts.table.user("mallory") is None
    callback = httpx.get(f"{served.url}/signin/oidc/callback", params={"code": "x", "state": "y"})
    assert callback.status_code == 401  # no sign-in was started here


def test_the_sign_in_page_offers_single_sign_on(signed: tuple[Any, Provider]) -> None:
    served, _ = signed
    page = httpx.get(f"{served.url}/signin", timeout=60).text
    assert "/signin/oidc" in page
    assert (
        not Path(served.hub.root / ".headgate" / "state.db")
        .read_bytes()
        .count(CLIENT_SECRET.encode())
    )
