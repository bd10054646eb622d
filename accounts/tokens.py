"""Local verification of the identity provider's access tokens (API.md §4).

HS256 with `AUTH_JWT_SECRET` and/or RS256/ES256 with the keys of `AUTH_JWKS_URL`. Only the
algorithm families that are configured are accepted, `none` never is. The JWKS is cached and
fetched again for an unknown `kid` at most once per `AUTH_JWKS_MIN_REFRESH_SECONDS`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import jwt
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from config.errors import AuthenticationError, ServiceUnavailableError

logger = logging.getLogger(__name__)

HMAC_ALGORITHMS = ("HS256",)
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
MAX_SUBJECT_LENGTH = 255


class InvalidToken(AuthenticationError):
    """The token cannot be trusted; `reason` names why (for logs and metrics)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class JWKSKeys:
    """The provider's public keys, fetched on demand and cached.

    An unknown `kid` triggers a refetch (key rotation), but never more often than the minimum
    refresh interval, so tokens with made-up key ids cannot turn the API into a JWKS hammer.
    """

    def __init__(self, url: str, *, cache_seconds: int, min_refresh_seconds: int, timeout: int):
        self.url = url
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=timeout)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def get(self, kid: str | None) -> jwt.PyJWK:
        """The key for `kid` (the only key when the token names none)."""
        now = time.monotonic()
        with self._lock:
            stale = now - self._fetched_at > self.cache_seconds
            missing = kid not in self._keys if kid else len(self._keys) != 1
            may_refresh = now - self._fetched_at >= self.min_refresh_seconds
            if stale or (missing and may_refresh):
                self._refresh(now)
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            key = self._keys.get(kid or "")
        if key is None:
            raise InvalidToken("Token signed with an unknown key", reason="unknown_kid")
        return key

    def _refresh(self, now: float) -> None:
        try:
            jwk_set = self._client.get_jwk_set(refresh=True)
        except jwt.PyJWTError as exc:
            logger.error("could not fetch JWKS from %s: %s", self.url, exc)
            if not self._keys:
                raise ServiceUnavailableError(
                    "Token keys are unavailable", details={"service": "jwks"}
                ) from exc
            return
        finally:
            self._fetched_at = now
        self._keys = {key.key_id or "": key for key in jwk_set.keys}


_jwks_keys: JWKSKeys | None = None
_jwks_lock = threading.Lock()


def jwks_keys() -> JWKSKeys:
    """The process-wide JWKS cache for the configured URL."""
    global _jwks_keys
    with _jwks_lock:
        if _jwks_keys is None or _jwks_keys.url != settings.AUTH_JWKS_URL:
            _jwks_keys = JWKSKeys(
                settings.AUTH_JWKS_URL,
                cache_seconds=settings.AUTH_JWKS_CACHE_SECONDS,
                min_refresh_seconds=settings.AUTH_JWKS_MIN_REFRESH_SECONDS,
                timeout=settings.AUTH_JWKS_TIMEOUT_SECONDS,
            )
        return _jwks_keys


@receiver(setting_changed)
def _forget_keys_on_settings_change(*, setting: str, **kwargs: Any) -> None:
    """Drop cached keys when the AUTH_* settings change (tests and reconfiguration)."""
    global _jwks_keys
    if setting.startswith("AUTH_"):
        with _jwks_lock:
            _jwks_keys = None


def _signing_key(header: dict[str, Any]) -> tuple[Any, list[str]]:
    algorithm = header.get("alg")
    if algorithm in HMAC_ALGORITHMS and settings.AUTH_JWT_SECRET:
        return settings.AUTH_JWT_SECRET, [algorithm]
    if algorithm in ASYMMETRIC_ALGORITHMS and settings.AUTH_JWKS_URL:
        key = jwks_keys().get(header.get("kid"))
        return key.key, [algorithm]
    raise InvalidToken(f"Token algorithm {algorithm!r} is not accepted", reason="algorithm")


def verify_token(token: str) -> dict[str, Any]:
    """Verify signature and claims; return the claims or raise `InvalidToken`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("Malformed token", reason="malformed") from exc
    key, algorithms = _signing_key(header)
    try:
        claims: dict[str, Any] = jwt.decode(
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
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("Token has expired", reason="expired") from exc
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
    _check_subject_and_party(claims)
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
