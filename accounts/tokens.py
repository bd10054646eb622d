"""Local verification of the identity provider's access tokens (API.md §4).

HS256 with `AUTH_JWT_SECRET` and/or RS256/ES256 with the keys of `AUTH_JWKS_URL`. Only the
algorithm families that are configured are accepted, `none` never is. The JWKS is cached for
`AUTH_JWKS_CACHE_SECONDS` and fetched again for an unknown `kid` at most once per
`AUTH_JWKS_MIN_REFRESH_SECONDS` (`config.keysets`); it is forgotten when settings change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from typing import Any

import jwt
import orjson
from django.conf import settings

from config.errors import AuthenticationError
from config.keysets import KeySet, parse_jwks, shared_key_set

HMAC_ALGORITHMS = ("HS256",)
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
MAX_SUBJECT_LENGTH = 255


class InvalidToken(AuthenticationError):
    """The token cannot be trusted; `reason` names why (for logs and metrics)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def jwks_keys() -> KeySet[jwt.PyJWK]:
    """The process-wide JWKS cache for the configured URL (`config.keysets`)."""
    return shared_key_set(
        settings.AUTH_JWKS_URL,
        parse=parse_jwks,
        service="jwks",
        timeout=settings.AUTH_JWKS_TIMEOUT_SECONDS,
        min_refresh_seconds=settings.AUTH_JWKS_MIN_REFRESH_SECONDS,
        lifetime=settings.AUTH_JWKS_CACHE_SECONDS,
        unavailable_message="Token keys are unavailable",
    )


def _signing_key(header: dict[str, Any]) -> tuple[Any, list[str]]:
    algorithm = header.get("alg")
    if algorithm in HMAC_ALGORITHMS and settings.AUTH_JWT_SECRET:
        return settings.AUTH_JWT_SECRET, [algorithm]
    if algorithm in ASYMMETRIC_ALGORITHMS and settings.AUTH_JWKS_URL:
        key = jwks_keys().get(header.get("kid"))
        if key is None:
            raise InvalidToken("Token signed with an unknown key", reason="unknown_kid")
        return key.key, [algorithm]
    raise InvalidToken(f"Token algorithm {algorithm!r} is not accepted", reason="algorithm")


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a compact JWT, NOT verified, or None when it is not one.

    Base64 and JSON only, for choosing how to verify (the key, the issuer) and for reading
    ahead what verification will confirm: nothing it returns may be trusted before that.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (
            orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in parts[:2]
        )
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def verify_token(
    token: str, *, peeked: tuple[dict[str, Any], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Verify signature and claims; return the claims or raise `InvalidToken`.

    `peeked` is `peek(token)` when the caller has it already (authentication reads the subject
    ahead): it only chooses the key, and PyJWT checks the token itself.
    """
    if peeked is None:
        peeked = peek(token)
    if peeked is None:
        raise InvalidToken("Malformed token", reason="malformed")
    key, algorithms = _signing_key(peeked[0])
    claims = decode_claims(
        token,
        key=key,
        algorithms=algorithms,
        audience=settings.AUTH_AUDIENCE or None,
        issuer=settings.AUTH_ISSUER or None,
        leeway=settings.AUTH_LEEWAY_SECONDS,
        options={
            "require": ["exp", "sub"],
            "verify_aud": bool(settings.AUTH_AUDIENCE),
            "verify_iss": bool(settings.AUTH_ISSUER),
        },
    )
    _check_subject_and_party(claims)
    return claims


def decode_claims(
    token: str,
    *,
    key: Any,
    algorithms: list[str],
    expired_message: str = "Token has expired",
    **checks: Any,
) -> dict[str, Any]:
    """`jwt.decode` with `checks` (audience, issuer, leeway, options), PyJWT's errors turned into
    `InvalidToken` with a message for the client and a reason for logs and metrics."""
    try:
        claims: dict[str, Any] = jwt.decode(token, key=key, algorithms=algorithms, **checks)
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken(expired_message, reason="expired") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"Token is missing the '{exc.claim}' claim", reason="claims") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken("Token audience is not accepted", reason="audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("Token issuer is not accepted", reason="issuer") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("Token signature is invalid", reason="signature") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"Invalid token: {exc}", reason="invalid") from exc
    return claims


def _check_subject_and_party(claims: dict[str, Any]) -> None:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        raise InvalidToken("Token subject is invalid", reason="claims")
    parties = settings.AUTH_AUTHORIZED_PARTIES
    # Clerk's rule: when the token names its authorized party, it must be one of ours.
    if parties and "azp" in claims and claims["azp"] not in parties:
        raise InvalidToken("Token authorized party is not accepted", reason="azp")


def mint_development_token(
    *, email: str, subject: str | None = None, full_name: str | None = None, ttl: int = 3600
) -> str:
    """An HS256 token for `AUTH_JWT_SECRET`, as the identity provider would issue it.

    For development and tests; `manage.py devtoken` refuses to call it in production. The same
    email always gets the same subject, hence the same user.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject or f"dev|{hashlib.sha256(email.lower().encode()).hexdigest()[:24]}",
        "email": email,
        "iat": now,
        "exp": now + ttl,
    }
    if full_name:
        claims["name"] = full_name
    if settings.AUTH_ISSUER:
        claims["iss"] = settings.AUTH_ISSUER
    if settings.AUTH_AUDIENCE:
        claims["aud"] = settings.AUTH_AUDIENCE
    return jwt.encode(claims, settings.AUTH_JWT_SECRET, algorithm="HS256")
