"""A small OpenID Connect provider served over real HTTP, for staff sign-in tests.

`OIDCProvider` runs the authorization code flow on 127.0.0.1 in a thread: `/authorize` sends the
browser straight back to the client's redirect_uri with a code and the state (no login page: the
person signed in is whoever `sign_in_as` last named), `/token` exchanges the code for an access
token and an RS256 id_token (with `kid`, iss, aud, exp, iat and the nonce of the authorization
request), `/userinfo` answers the claims for the access token, `/jwks` publishes the key.

    with OIDCProvider() as provider:
        provider.sign_in_as(email="ada@example.com", groups=["support"])
        settings for the app under test: provider.django_settings() or provider.environ()

Tests can make it misbehave: `id_token_overrides` replaces claims of the next id_tokens (a wrong
nonce, an expired token), `reusable_codes` lets a code be exchanged more than once (so a replay
is refused by the client, not by the provider). `requests` records the paths served.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.jwt_keys import SigningKey, jwks

CLIENT_ID = "groundwork-console"
CLIENT_SECRET = "console-client-secret-for-tests"
SSO_BACKEND = "accounts.sso.StaffSSOBackend"


@dataclass
class _Grant:
    claims: dict[str, Any]
    nonce: str | None
    redirect_uri: str
    used: bool = False


@dataclass
class OIDCProvider:
    """The provider; start it with `start()` or as a context manager."""

    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    key: SigningKey = field(default_factory=lambda: SigningKey.rsa("oidc-test-key"))
    token_ttl: int = 300
    reusable_codes: bool = False
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._grants: dict[str, _Grant] = {}
        self._access_tokens: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.sign_in_as()

    # --- Lifecycle ---------------------------------------------------------------------------

    def start(self) -> OIDCProvider:
        handler = type("Handler", (_Handler,), {"provider": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OIDCProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget grants and tokens, and go back to the default person and behaviour."""
        with self._lock:
            self._grants.clear()
            self._access_tokens.clear()
        self.reusable_codes = False
        self.id_token_overrides = {}
        self.requests.clear()
        self.sign_in_as()

    # --- What the client is configured with ----------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the provider first"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def issuer(self) -> str:
        return self.base_url

    def endpoints(self) -> dict[str, str]:
        return {
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.base_url}/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.base_url}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.base_url}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.base_url}/jwks",
        }

    def environ(self, **extra: str) -> dict[str, str]:
        """Environment variables for a process of the app (a live server)."""
        return {
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_RP_SIGN_ALGO": "RS256",
            **self.endpoints(),
            **extra,
        }

    def django_settings(self) -> dict[str, Any]:
        """Settings for the app in this process (the same as `environ()` gives at start-up)."""
        return {
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_RP_SIGN_ALGO": "RS256",
            **self.endpoints(),
            "STAFF_SSO_ENABLED": True,
        }

    def apply_to(self, settings: Any, **overrides: Any) -> None:
        """Point this process's app at the provider (pytest-django's `settings` fixture): the
        client settings and the SSO backend, which start-up adds only when configured."""
        for name, value in {**self.django_settings(), **overrides}.items():
            setattr(settings, name, value)
        if SSO_BACKEND not in settings.AUTHENTICATION_BACKENDS:
            settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, SSO_BACKEND]

    # --- Who signs in -------------------------------------------------------------------------

    def sign_in_as(
        self,
        *,
        sub: str = "okta|ada",
        email: str = "ada@example.com",
        email_verified: Any = True,
        groups: list[str] | None = None,
        **claims: Any,
    ) -> dict[str, Any]:
        """The person the next `/authorize` issues a code for (their userinfo claims)."""
        self.claims = {
            "sub": sub,
            "email": email,
            "email_verified": email_verified,
            "groups": list(groups or []),
            **claims,
        }
        return self.claims

    # --- The endpoints ------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request"}
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri:
            return 400, {}, {"error": "invalid_request"}
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(dict(self.claims), query.get("nonce"), redirect_uri)
        back = {"code": code, "state": query.get("state", "")}
        return 302, {"Location": f"{redirect_uri}?{urlencode(back)}"}, None

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, str], Any]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return 401, {}, {"error": "invalid_client"}
        with self._lock:
            grant = self._grants.get(form.get("code", ""))
            if (
                form.get("grant_type") != "authorization_code"
                or grant is None
                or (grant.used and not self.reusable_codes)
                or grant.redirect_uri != form.get("redirect_uri")
            ):
                return 400, {}, {"error": "invalid_grant"}
            grant.used = True
            access_token = secrets.token_urlsafe(24)
            self._access_tokens[access_token] = grant.claims
        now = int(time.time())
        id_claims = {
            "iss": self.issuer,
            "sub": grant.claims["sub"],
            "aud": self.client_id,
            "iat": now,
            "exp": now + self.token_ttl,
            "email": grant.claims.get("email"),
            **({"nonce": grant.nonce} if grant.nonce is not None else {}),
            **self.id_token_overrides,
        }
        return (
            200,
            {"Cache-Control": "no-store"},
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "id_token": self.key.sign(id_claims),
            },
        )

    def userinfo(self, authorization: str) -> tuple[int, dict[str, str], Any]:
        token = authorization.removeprefix("Bearer ").strip()
        with self._lock:
            claims = self._access_tokens.get(token)
        if not authorization.startswith("Bearer ") or claims is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {}
        return 200, {}, claims

    def jwks(self) -> tuple[int, dict[str, str], Any]:
        return 200, {}, jwks(self.key)


class _Handler(BaseHTTPRequestHandler):
    provider: OIDCProvider

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.provider.requests.append(url.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        authorization = self.headers.get("Authorization", "")
        if url.path == "/authorize":
            self._answer(*self.provider.authorize(query))
        elif url.path == "/userinfo":
            self._answer(*self.provider.userinfo(authorization))
        elif url.path == "/jwks":
            self._answer(*self.provider.jwks())
        else:
            self._answer(404, {}, {"error": "not_found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.provider.requests.append(url.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        form = {key: values[-1] for key, values in parse_qs(body).items()}
        if url.path == "/token":
            self._answer(*self.provider.token(form, self.headers.get("Authorization", "")))
        else:
            self._answer(404, {}, {"error": "not_found"})

    def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
