"""Impersonation: staff acting as a user through a short-lived, audited API token.

A staff member with the `accounts.impersonate_user` permission starts a session for a user who is
neither staff, superuser nor deactivated (`impersonation_start`), giving a reason and a duration
of 5 to 480 minutes. The session's token is an HS256 JWT whose `sub` is the user, whose `act`
claim (RFC 8693) names the staff member, whose `jti` is the `Impersonation` row and whose `iss` is
`IMPERSONATION_TOKEN_ISSUER`. It is signed with a key derived from SECRET_KEY, never with the
identity provider's secret, so no token from the provider (whatever claims it carries) can be
taken for one.

Authentication (`accounts.authentication`) routes a Bearer token to `impersonation_authenticate`
only when its unverified `iss` is ours, verifies it with our key, and reads the row on every
request, so a session ended early (`impersonation_end`) is refused from the next request on.
Sessions are read-only unless started with `allow_changes`: a POST, PUT, PATCH or DELETE is a 403.
Every request made with the token is in the audit log (`impersonation.request`, the user as
actor, the staff member as impersonator), as are the start and the end.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Impersonation, User
from accounts.tokens import InvalidToken, decode_claims, peek
from audit.models import AuditEvent
from audit.services import audit_record
from config.errors import AuthorizationError, BadRequestError, ValidationError
from config.metrics import record_impersonated_request

PERMISSION = "accounts.impersonate_user"
MIN_MINUTES = 5
MAX_MINUTES = 480
DEFAULT_MINUTES = 30
REASON_MAX_LENGTH = 1000
ALGORITHM = "HS256"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Derives the signing key from SECRET_KEY; a new label would invalidate every token.
KEY_LABEL = b"groundwork.accounts.impersonation-token.v1"


# --- Who may impersonate whom -----------------------------------------------------------------


def staff_may_impersonate(staff: Any) -> bool:
    """Whether `staff` (a signed-in user) may start impersonation sessions at all."""
    return bool(
        getattr(staff, "is_active", False)
        and getattr(staff, "is_staff", False)
        and staff.has_perm(PERMISSION)
    )


def impersonation_refusal(user: User) -> str | None:
    """Why `user` cannot be impersonated, or None when they can."""
    if user.is_staff or user.is_superuser:
        return "Staff accounts cannot be impersonated."
    if not user.is_active:
        return "Deactivated accounts cannot be impersonated."
    return None


# --- Tokens -----------------------------------------------------------------------------------


def impersonation_signing_key() -> bytes:
    """The HS256 key of impersonation tokens: an HMAC of SECRET_KEY with a fixed label.

    Changing SECRET_KEY invalidates every running session (they last at most eight hours).
    """
    return hmac.new(settings.SECRET_KEY.encode(), KEY_LABEL, hashlib.sha256).digest()


def impersonation_token_mint(*, impersonation: Impersonation, staff: User) -> str:
    """The session's API token: `sub` the user, `act` the staff member, `jti` the row's id."""
    claims = {
        "iss": settings.IMPERSONATION_TOKEN_ISSUER,
        "sub": impersonation.user_id,
        "act": {"sub": staff.pk, "email": staff.email},
        "jti": str(impersonation.pk),
        "iat": int(impersonation.created_at.timestamp()),
        "exp": int(impersonation.expires_at.timestamp()),
    }
    return jwt.encode(claims, impersonation_signing_key(), algorithm=ALGORITHM)


def is_impersonation_token(token: str) -> bool:
    """Whether `token` claims (unverified) to be one of ours: its `iss` is our issuer.

    Costs one base64 and JSON decoding, no I/O. Such a token is then verified with our key only.
    """
    peeked = peek(token)
    return peeked is not None and peeked[1].get("iss") == settings.IMPERSONATION_TOKEN_ISSUER


def impersonation_token_verify(token: str) -> dict[str, Any]:
    """Verify an impersonation token's signature, issuer and times; return its claims or raise
    `InvalidToken`."""
    claims = decode_claims(
        token,
        key=impersonation_signing_key(),
        algorithms=[ALGORITHM],
        expired_message="This impersonation session has expired",
        issuer=settings.IMPERSONATION_TOKEN_ISSUER,
        options={"require": ["exp", "iat", "sub", "jti", "iss", "act"]},
    )
    if not isinstance(claims.get("act"), dict) or not isinstance(claims.get("sub"), str):
        raise InvalidToken("Invalid impersonation token", reason="claims")
    return claims


# --- Requests made with a token ---------------------------------------------------------------


def impersonation_authenticate(*, token: str) -> tuple[Impersonation, dict[str, Any]]:
    """The running session `token` belongs to (with its user and staff member loaded, in one
    query) and the token's claims.

    Raises `InvalidToken` (401) for a bad token or a session that ended, expired or whose staff
    member lost staff access, and `AuthorizationError` (403) when the user was deactivated or
    became staff since it started.
    """
    claims = impersonation_token_verify(token)
    try:
        session_id = uuid.UUID(str(claims["jti"]))
    except ValueError as exc:
        raise InvalidToken("Invalid impersonation token", reason="claims") from exc
    impersonation = (
        Impersonation.objects.select_related("user", "staff")
        .filter(pk=session_id, user_id=claims["sub"])
        .first()
    )
    if impersonation is None:
        raise InvalidToken("Unknown impersonation session", reason="impersonation_unknown")
    if impersonation.ended_at is not None:
        raise InvalidToken("This impersonation session has ended", reason="impersonation_ended")
    if not impersonation.is_active():
        raise InvalidToken("This impersonation session has expired", reason="expired")
    staff = impersonation.staff
    if staff is None or not staff.is_active or not staff.is_staff:
        raise InvalidToken(
            "The staff member of this impersonation session no longer has access",
            reason="impersonation_ended",
        )
    user = impersonation.user
    if not user.is_active:
        raise AuthorizationError("This account is deactivated")
    if user.is_staff or user.is_superuser:
        raise AuthorizationError("Staff accounts cannot be impersonated")
    return impersonation, claims


def impersonation_request_record(*, impersonation: Impersonation, request: HttpRequest) -> None:
    """Audit one request made with the session's token and count it; a write in a read-only
    session is recorded as refused, then raises `AuthorizationError` (403)."""
    method = (request.method or "").upper()
    refused = method not in SAFE_METHODS and not impersonation.allow_changes
    changes: dict[str, tuple[Any, Any]] = {
        "method": (None, method),
        "path": (None, request.path),
    }
    if refused:
        changes["refused"] = (None, "read-only")
    audit_record(
        action="impersonation.request",
        actor=impersonation.user,
        actor_type=AuditEvent.ActorType.USER,
        impersonator=impersonation.staff,
        target_type="impersonation",
        target_id=str(impersonation.pk),
        changes=changes,
        request=request,
    )
    record_impersonated_request(method=method)
    if refused:
        raise AuthorizationError("This impersonation session is read-only")


# --- Services ---------------------------------------------------------------------------------


def impersonation_start(
    *,
    staff: User,
    user: User,
    reason: str,
    minutes: int,
    allow_changes: bool,
    request: HttpRequest | None = None,
) -> tuple[Impersonation, str]:
    """Start a session of `minutes` (5 to 480) in which `staff` acts as `user`; return it and its
    token (shown once: only its id is stored).

    Raises `AuthorizationError` when `staff` lacks the permission or `user` is staff, a
    superuser or deactivated, and `ValidationError` for an empty reason or a duration out of
    range.
    """
    if not staff_may_impersonate(staff):
        raise AuthorizationError("You are not allowed to impersonate users")
    refusal = impersonation_refusal(user)
    if refusal:
        raise AuthorizationError(refusal)
    reason = reason.strip()
    errors = []
    if not reason:
        errors.append({"field": "reason", "message": "Give a reason.", "code": "required"})
    elif len(reason) > REASON_MAX_LENGTH:
        errors.append(
            {
                "field": "reason",
                "message": f"At most {REASON_MAX_LENGTH} characters.",
                "code": "max_length",
            }
        )
    if isinstance(minutes, bool) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        errors.append(
            {
                "field": "minutes",
                "message": f"Between {MIN_MINUTES} and {MAX_MINUTES} minutes.",
                "code": "range",
            }
        )
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        impersonation = Impersonation.objects.create(
            staff=staff,
            user=user,
            reason=reason,
            allow_changes=allow_changes,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        audit_record(
            action="impersonation.start",
            actor=staff,
            actor_type=AuditEvent.ActorType.STAFF,
            target_type="user",
            target_id=user.pk,
            changes={
                "impersonation": (None, str(impersonation.pk)),
                "reason": (None, reason),
                "minutes": (None, minutes),
                "allow_changes": (None, allow_changes),
                "expires_at": (None, impersonation.expires_at),
            },
            request=request,
        )
    return impersonation, impersonation_token_mint(impersonation=impersonation, staff=staff)


def impersonation_end(
    *, impersonation: Impersonation, ended_by: User, request: HttpRequest | None = None
) -> Impersonation:
    """End a running session now: its token is refused from the next request on.

    Raises `BadRequestError` when the session already ended or expired.
    """
    with transaction.atomic():
        current = Impersonation.objects.select_for_update().get(pk=impersonation.pk)
        if not current.is_active():
            raise BadRequestError(f"This impersonation session has already {current.status}")
        now = timezone.now()
        Impersonation.objects.filter(pk=current.pk).update(ended_at=now, ended_by=ended_by)
        impersonation.ended_at, impersonation.ended_by = now, ended_by
        audit_record(
            action="impersonation.end",
            actor=ended_by,
            actor_type=AuditEvent.ActorType.STAFF,
            target_type="user",
            target_id=current.user_id,
            changes={
                "impersonation": (None, str(current.pk)),
                "reason": (None, current.reason),
                "minutes": (
                    None,
                    round((current.expires_at - current.created_at).total_seconds() / 60),
                ),
                "allow_changes": (None, current.allow_changes),
                "ended_at": (None, now),
            },
            request=request,
        )
    return impersonation
