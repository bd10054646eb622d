"""DRF authentication with the identity provider's Bearer tokens, verified locally."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.impersonation import (
    impersonation_authenticate,
    impersonation_request_record,
    is_impersonation_token,
)
from accounts.models import Impersonation, User
from accounts.selectors import user_get_cached
from accounts.services import user_get_or_create_from_claims, user_record_login
from accounts.tokens import MAX_SUBJECT_LENGTH, InvalidToken, peek, verify_token
from accounts.user_cache import user_cache_key, user_from_cache
from config.errors import (
    AuthenticationError,
    AuthorizationError,
    RateLimitError,
    ServiceUnavailableError,
)
from config.metrics import record_auth_failure, record_rate_limited
from config.observability import impersonator_id_var, user_id_var
from config.outages import OutageLog
from config.throttling import ScopedRateThrottle, parse_rate

logger = logging.getLogger(__name__)

AUTH_FAILURES_SCOPE = "auth_failures"
# While the cache is down: one log line a minute, as for the rate limits.
AUTH_LIMITER_OUTAGE = OutageLog(logger, "auth failure limiter unavailable, requests allowed")


class AuthFailureLimiter:
    """Failed token verifications per client IP in a fixed window (`RATE_LIMIT_AUTH_FAILURES`),
    shared by every worker through the cache like `config.throttling`.

    DRF authenticates before it throttles, so the API's rate limits never see a request whose
    token is refused: this counts those. Once an IP has used up the window's failures, its
    Bearer requests are answered 429 before any verification (no signature check, no JWKS
    fetch) until the window ends. A cache outage lets requests through, as the rate limits do.
    """

    def __init__(self, request: Request) -> None:
        self.limit, self.window = parse_rate(settings.RATE_LIMIT_AUTH_FAILURES)
        now = time.time()
        self.window_start = int(now // self.window * self.window)
        self.retry_after = max(1, math.ceil(self.window_start + self.window - now))
        ident = BaseThrottle().get_ident(request)
        self.key = f"throttle:{AUTH_FAILURES_SCOPE}:ip:{ident}:{self.window_start}"

    def check(self, *, read_ahead_user: str | None = None) -> User | None:
        """Raise `RateLimitError` (429) when this IP has no failures left in the window.

        `read_ahead_user` names a user whose cached row is read in the same round trip and
        returned (None when not cached or the cache is down): the token's subject, before the
        token is verified, so that authentication costs one cache round trip.
        """
        keys = [self.key]
        if read_ahead_user is not None:
            keys.append(user_cache_key(read_ahead_user))
        try:
            values = cache.get_many(keys)
        except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
            AUTH_LIMITER_OUTAGE.failed(error)
            return None
        AUTH_LIMITER_OUTAGE.recovered()
        if (values.get(self.key) or 0) >= self.limit:
            record_rate_limited(scope=AUTH_FAILURES_SCOPE)
            raise RateLimitError(self.retry_after)
        return user_from_cache(values.get(keys[-1])) if read_ahead_user is not None else None

    def record_failure(self) -> None:
        """Count one refused token."""
        try:
            ScopedRateThrottle.increment(self.key, timeout=self.window + 1)
        except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
            AUTH_LIMITER_OUTAGE.failed(error)


class JWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <JWT>` → the user named by its `sub`, created on first sight.

    No header means anonymous (the permission then answers 401); a header that is not a valid
    Bearer token is a 401; a deactivated user is a 403. Refused tokens are counted per client
    IP (`AuthFailureLimiter`): over `RATE_LIMIT_AUTH_FAILURES`, 429 without verifying.

    Every refusal is counted in `groundwork_auth_failures_total{reason}`: the token's
    `InvalidToken.reason` (malformed, signature, expired, audience, issuer, azp, unknown_kid,
    algorithm, claims, invalid, impersonation_unknown, impersonation_ended), `rate_limited`,
    `jwks_unavailable`, `deactivated`, `impersonation_refused` and `impersonation_read_only`;
    a protected endpoint called without credentials counts as `missing` (config.errors).

    A token whose issuer is `IMPERSONATION_TOKEN_ISSUER` is a staff member's impersonation
    token (`accounts.impersonation`): verified with its own key, its session read from the
    database, the request audited, read-only unless the session allows changes. The request
    then has `impersonation` set and its log lines carry `impersonator_id`.
    """

    def authenticate(self, request: Request) -> tuple[User, dict[str, Any]] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        limiter = AuthFailureLimiter(request)
        impersonating = is_impersonation_token(token)
        peeked = None if impersonating else peek(token)
        try:
            cached = limiter.check(read_ahead_user=_subject(peeked))
        except RateLimitError:
            record_auth_failure(reason="rate_limited")
            raise
        impersonation = None
        try:
            if scheme.lower() != "bearer" or not token or " " in token:
                raise InvalidToken(
                    "Authorization header must be 'Bearer <token>'", reason="malformed"
                )
            if impersonating:
                impersonation, claims = impersonation_authenticate(token=token)
            else:
                claims = verify_token(token, peeked=peeked)
        except InvalidToken as exc:
            logger.info("token rejected: %s", exc.reason)
            record_auth_failure(reason=exc.reason)
            limiter.record_failure()
            raise
        except AuthorizationError:
            # A valid impersonation token whose user was deactivated or became staff since.
            record_auth_failure(reason="impersonation_refused")
            raise
        except ServiceUnavailableError:
            # The JWKS could not be fetched: the token could not be checked (not the client's
            # fault, so the limiter does not count it).
            record_auth_failure(reason="jwks_unavailable")
            raise
        if impersonation is not None:
            return self._impersonated(request, impersonation, claims)
        user = user_get_or_create_from_claims(claims=claims, cached=cached)
        user_id_var.set(user.pk)
        if not user.is_active:
            record_auth_failure(reason="deactivated")
            raise AuthorizationError("This account is deactivated")
        user_record_login(user=user)
        return user, claims

    def _impersonated(
        self, request: Request, impersonation: Impersonation, claims: dict[str, Any]
    ) -> tuple[User, dict[str, Any]]:
        """The session's user; the request marked, audited, and refused when it writes in a
        read-only session. No login is recorded: the user did not sign in."""
        user = impersonation.user
        user_id_var.set(user.pk)
        impersonator_id_var.set(impersonation.staff_id)
        # On the Django request, so middleware and views (through DRF's request) both see it.
        request._request.impersonation = impersonation  # type: ignore[attr-defined]
        try:
            impersonation_request_record(impersonation=impersonation, request=request._request)
        except AuthorizationError:
            record_auth_failure(reason="impersonation_read_only")
            raise
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def _subject(peeked: tuple[dict[str, Any], dict[str, Any]] | None) -> str | None:
    """The subject a token claims (`peek`), unverified: only to read its cached user ahead."""
    subject = peeked[1].get("sub") if peeked is not None else None
    return subject if isinstance(subject, str) and 0 < len(subject) <= MAX_SUBJECT_LENGTH else None


def socket_user_from_token(token: str) -> User:
    """The active user a WebSocket's Bearer token names (registered with `realtime.identity`).

    Raises `InvalidToken` (an AuthenticationError), or `AuthorizationError` for a deactivated
    user and for an impersonation token (an impersonation session opens no socket), its
    `details["reason"]` saying which (the metric's label).
    """
    if is_impersonation_token(token):
        raise AuthorizationError(
            "An impersonation session cannot open a WebSocket", details={"reason": "impersonation"}
        )
    user = user_get_or_create_from_claims(claims=verify_token(token))
    if not user.is_active:
        raise AuthorizationError("This account is deactivated", details={"reason": "deactivated"})
    return user


def socket_user_from_id(user_id: str) -> User | None:
    """The user a WebSocket ticket was issued to, through the user cache."""
    return user_get_cached(user_id=user_id)


def authenticated_user(request: Request) -> User:
    """The request's user, typed; views behind IsAuthenticated always have one."""
    user = request.user
    if not isinstance(user, User):
        raise AuthenticationError()
    return user
