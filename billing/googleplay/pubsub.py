"""Pub/Sub push authentication: the OIDC token Google puts on every push to our endpoint.

A push subscription with authentication sends `Authorization: Bearer <JWT>`: an RS256 token
signed by Google, whose public keys are published as a map of key id → x509 PEM certificate at
`GOOGLE_PUBSUB_CERTS_URL`. A token is accepted when its signature verifies with the certificate
named by its `kid`, it is within its `iat`/`exp` window, its `aud` is `GOOGLE_PUBSUB_AUDIENCE`,
its issuer is `accounts.google.com` (with or without `https://`), and its `email` is
`GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL` with `email_verified` true. Anything else is 401.

google-auth's `id_token.verify_token` downloads the certificates on every call, so they are kept
here per process instead: for the `max-age` of the answer's Cache-Control (less its `Age`), and
fetched again early only for a token whose `kid` is unknown, at most once a minute (a token made
up with random key ids cannot turn every request into a download). The check itself is
google-auth's `jwt.decode`, always with the audience (it skips that check for `audience=None`).
When the certificates cannot be fetched and none usable are cached, the answer is 503.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from django.conf import settings
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt

from config.errors import AuthenticationError, ServiceUnavailableError

logger = logging.getLogger(__name__)

SERVICE = "google_pubsub"
ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
ALGORITHM = "RS256"
# Seconds between downloads triggered by an unknown key id.
UNKNOWN_KID_REFETCH_SECONDS = 60.0
# Certificates kept this long when the answer names no max-age (Google's always does).
DEFAULT_MAX_AGE_SECONDS = 300
MAX_AGE_CEILING_SECONDS = 86_400
CLOCK_SKEW_SECONDS = 30
CERTS_MAX_BYTES = 1_000_000
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True)
class _Certificates:
    url: str
    by_kid: Mapping[str, str]
    fetched_at: float  # time.monotonic()
    expires_at: float


_lock = threading.Lock()
_cached: _Certificates | None = None


def max_age_of(headers: Message) -> float:
    """How long an answer may be cached: Cache-Control max-age less Age, 0 for no-store."""
    cache_control = headers.get("Cache-Control", "") or ""
    if re.search(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", cache_control, re.IGNORECASE):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return float(DEFAULT_MAX_AGE_SECONDS)
    age_header = (headers.get("Age", "") or "").strip()
    age = int(age_header) if age_header.isascii() and age_header.isdigit() else 0
    return float(max(0, min(int(match.group(1)), MAX_AGE_CEILING_SECONDS) - age))


def _download(url: str) -> _Certificates:
    """Fetch the certificate map; ServiceUnavailableError when it cannot be had."""
    if not url.startswith(("https://", "http://")):
        raise ServiceUnavailableError(
            "The Pub/Sub certificate URL is not an HTTP URL", details={"service": SERVICE}
        )
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(  # noqa: S310 - scheme checked above
            request, timeout=settings.GOOGLE_PLAY_TIMEOUT_SECONDS
        ) as response:
            body = response.read(CERTS_MAX_BYTES + 1)
            headers = response.headers
    except (OSError, ValueError) as error:
        logger.warning("google pubsub certificates unavailable: %s", error)
        raise ServiceUnavailableError(
            "Google's token certificates could not be fetched", details={"service": SERVICE}
        ) from error
    try:
        if len(body) > CERTS_MAX_BYTES:
            raise ValueError("certificate document too large")
        data = json.loads(body)
        if not isinstance(data, dict) or not all(
            isinstance(kid, str) and isinstance(pem, str) for kid, pem in data.items()
        ):
            raise ValueError("not a map of key id to PEM certificate")
    except ValueError as error:
        logger.warning("google pubsub certificates unreadable: %s", error)
        raise ServiceUnavailableError(
            "Google's token certificates could not be read", details={"service": SERVICE}
        ) from error
    now = time.monotonic()
    return _Certificates(
        url=url, by_kid=dict(data), fetched_at=now, expires_at=now + max_age_of(headers)
    )


def certificates_for(kid: str) -> Mapping[str, str]:
    """The certificate map to check a token signed with `kid` against (cached, see the module).

    Downloads when nothing fresh is cached, or when `kid` is unknown and the last download is
    over a minute old. A failed download falls back to cached certificates that hold `kid`.
    """
    global _cached
    url = settings.GOOGLE_PUBSUB_CERTS_URL
    with _lock:
        now = time.monotonic()
        cached = _cached if _cached is not None and _cached.url == url else None
        fresh = cached is not None and now < cached.expires_at
        if (
            cached is not None
            and fresh
            and (kid in cached.by_kid or now - cached.fetched_at < UNKNOWN_KID_REFETCH_SECONDS)
        ):
            return cached.by_kid
        try:
            _cached = _download(url)
        except ServiceUnavailableError:
            if cached is not None and kid in cached.by_kid:
                return cached.by_kid
            raise
        logger.info("google pubsub certificates fetched (%d keys)", len(_cached.by_kid))
        return _cached.by_kid


def _unauthenticated(reason: str) -> AuthenticationError:
    return AuthenticationError("Invalid Pub/Sub push token", details={"reason": reason})


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header; 401 when there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError(
            "A Pub/Sub push token is required", details={"reason": "missing_token"}
        )
    return token


def verify_push_token(token: str) -> Mapping[str, Any]:
    """The claims of a verified Pub/Sub push token; 401 unless it is valid (see the module).

    503 when the certificates are needed and cannot be fetched.
    """
    audience: str = settings.GOOGLE_PUBSUB_AUDIENCE
    email: str = settings.GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL
    if not audience or not email:
        raise ServiceUnavailableError(
            "Pub/Sub push authentication is not configured", details={"service": SERVICE}
        )
    try:
        header = google_jwt.decode_header(token)
    except (google_exceptions.GoogleAuthError, ValueError, TypeError):
        raise _unauthenticated("malformed") from None
    kid = header.get("kid") if isinstance(header, Mapping) else None
    if header.get("alg") != ALGORITHM or not isinstance(kid, str) or not kid:
        raise _unauthenticated("algorithm")
    certificates = certificates_for(kid)
    if kid not in certificates:
        raise _unauthenticated("unknown_key")
    try:
        claims = google_jwt.decode(
            token,
            certs={kid: certificates[kid]},
            audience=audience,
            clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
        )
    except (google_exceptions.GoogleAuthError, ValueError, TypeError, KeyError) as error:
        logger.info("pubsub push token refused: %s", error)
        raise _unauthenticated("invalid") from None
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or issuer not in ISSUERS:
        raise _unauthenticated("issuer")
    if claims.get("email") != email or claims.get("email_verified") not in (True, "true"):
        raise _unauthenticated("email")
    return claims
