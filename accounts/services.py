"""Writes to users: creation from token claims, logins, profile, deactivation and erasure.

The identity provider's webhooks (`accounts.identity_events`) keep users in step with it through
`user_sync_from_identity` (create or update the profile) and `user_delete_from_identity`
(deactivate, then erase as DELETE /users/me does). The provider is the source of truth for the
profile fields it sends; it never changes access (role, staff, active) except by a deletion.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts import personal_data
from accounts.models import User
from accounts.selectors import user_get_cached
from accounts.sockets import sockets_close_on_commit
from audit.models import AuditEvent
from audit.services import audit_events_scrub_person, audit_record, audit_record_many
from config.celery import enqueue_stored_work
from notifications.services import email_erase_for_user, email_send

logger = logging.getLogger(__name__)

UNSET: Any = object()

IdentitySyncOutcome = Literal["created", "updated", "unchanged", "stale", "erased"]


def _first_claim(claims: Mapping[str, Any], *names: str) -> str | None:
    metadata = claims.get("user_metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    for name in names:
        for source in (claims, metadata):
            value = source.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _valid_or_none(value: str | None, validator: Any, max_length: int) -> str | None:
    if value is None or len(value) > max_length:
        return None
    try:
        validator(value)
    except DjangoValidationError:
        return None
    return value


def _claim_bool(value: Any) -> bool | None:
    """A boolean claim; some providers send "true"/"false" strings. None when absent or odd."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def email_verified_default(verified: bool | None) -> bool:
    """What the provider's word on an email means: its explicit verdict, and without one,
    verified unless `AUTH_REQUIRE_EMAIL_VERIFIED` (many providers' access tokens, Clerk's and
    Supabase's among them, carry an email but no `email_verified` claim)."""
    if verified is not None:
        return verified
    return not settings.AUTH_REQUIRE_EMAIL_VERIFIED


def email_verdict_from_claims(claims: Mapping[str, Any]) -> bool | None:
    """The token's own word on its email: True, False, or None when it says nothing.

    Only a top-level `email` can be verified: `user_metadata` is edited by the user (Supabase), so
    an address found only there is not, and a `true` there proves nothing. A `false` anywhere is
    believed (a user lying about it only stops their own mail).
    """
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        return False
    verdict = _claim_bool(claims.get("email_verified"))
    metadata = claims.get("user_metadata")
    if (
        verdict is None
        and isinstance(metadata, Mapping)
        and _claim_bool(metadata.get("email_verified")) is False
    ):
        return False
    return verdict


def profile_from_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The profile fields a token carries, in Supabase, Clerk, Auth0 or plain OIDC style,
    cleaned as the identity provider's webhooks are (`identity_profile`), and whether the email
    is verified (`email_verdict_from_claims`, `email_verified_default`)."""
    profile = identity_profile(
        email=_first_claim(claims, "email"),
        full_name=_first_claim(claims, "name", "full_name"),
        avatar_url=_first_claim(claims, "picture", "avatar_url"),
    )
    profile["email_verified"] = bool(profile["email"]) and email_verified_default(
        email_verdict_from_claims(claims)
    )
    return profile


def user_get_or_create_from_claims(
    *, claims: Mapping[str, Any], cached: User | None = None
) -> User:
    """The token's user, created from its claims on first sight (one query when known).

    `cached` is the user as the cache held it when the caller read it already (authentication
    reads it with the failure limiter); it is used when it is the token's subject.

    A known user's `email_verified` follows what a token explicitly says about the same address
    (one UPDATE when it changes): an address confirmed after sign-up starts receiving mail, and
    one the provider says is unverified stops. A token silent about it changes nothing.
    """
    user = cached if cached is not None and cached.pk == claims["sub"] else None
    if user is None:
        user = user_get_cached(user_id=claims["sub"])
    if user is not None:
        _user_follow_email_verdict(user=user, claims=claims)
        return user
    # API users never sign in with a password.
    defaults = {**profile_from_claims(claims), "password": make_password(None)}
    user, created = User.objects.get_or_create(pk=claims["sub"], defaults=defaults)
    if created:
        logger.info("user created from token", extra={"user_id": user.pk})
        user_send_welcome(user=user)
    else:
        _user_follow_email_verdict(user=user, claims=claims)
    return user


def _user_follow_email_verdict(*, user: User, claims: Mapping[str, Any]) -> None:
    if not user.email or ("email" not in claims and "user_metadata" not in claims):
        return
    verdict = email_verdict_from_claims(claims)
    if verdict is None or verdict == user.email_verified:
        return
    if profile_from_claims(claims)["email"] != user.email:
        return
    User.objects.filter(pk=user.pk).update(email_verified=verdict, updated_at=timezone.now())
    user.email_verified = verdict
    logger.info(
        "user email verification changed",
        extra={"user_id": user.pk, "email_verified": verdict},
    )


def user_send_welcome(*, user: User) -> None:
    """Queue the welcome email of a user just created (none without a verified email)."""
    if user.deliverable_email:
        email_send(
            to=user.deliverable_email,
            template="welcome",
            context={"name": user.full_name or ""},
            user=user,
        )


def user_record_login(*, user: User) -> None:
    """Refresh `last_login_at` (and count a login) at most once per hour per user.

    The conditional UPDATE makes concurrent first requests of the hour count once.
    """
    now = timezone.now()
    threshold = now - timedelta(seconds=settings.AUTH_LOGIN_REFRESH_SECONDS)
    if user.last_login_at is not None and user.last_login_at > threshold:
        return
    updated = (
        User.objects.filter(pk=user.pk)
        .filter(Q(last_login_at__isnull=True) | Q(last_login_at__lte=threshold))
        .update(last_login_at=now, login_count=F("login_count") + 1)
    )
    if updated:
        user.last_login_at = now
        user.login_count += 1


def user_update_profile(*, user: User, full_name: Any = UNSET, avatar_url: Any = UNSET) -> User:
    """Change the fields a user may edit; blank values clear them."""
    changed = []
    if full_name is not UNSET:
        user.full_name = (full_name or "").strip() or None
        changed.append("full_name")
    if avatar_url is not UNSET:
        user.avatar_url = avatar_url or None
        changed.append("avatar_url")
    if changed:
        user.save(update_fields=[*changed, "updated_at"])
    return user


def user_deactivate(*, user: User, by_provider: bool = False) -> None:
    """Deactivate now (every later request gets 403) and erase personal data in the background;
    audited as done by the user (DELETE /users/me) or, `by_provider`, the identity provider."""
    from accounts.tasks import erase_user

    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False, updated_at=timezone.now())
        audit_record(
            action="user.deactivate",
            actor=None if by_provider else user,
            actor_type=AuditEvent.ActorType.PROVIDER if by_provider else AuditEvent.ActorType.USER,
            actor_label="identity provider" if by_provider else None,
            target_type="user",
            target_id=user.pk,
        )
        user.is_active = False
        sockets_close_on_commit(user.pk)
        transaction.on_commit(partial(enqueue_stored_work, erase_user, user.pk))


def _erase_personal_data(user_id: str, *, email: str = "") -> None:
    """Everything every app keeps about the user (the registry), the emails about them, and
    their data in the audit log (last: it also scrubs events the erasure itself recorded)."""
    personal_data.erase_everywhere(user_id)
    email_erase_for_user(user_id=user_id)
    audit_events_scrub_person(user_id=user_id, emails=[email])


def user_erase(*, user_id: str) -> bool:
    """Anonymise a deactivated user's personal fields; idempotent. Returns False if not found.

    The row stays (ids referenced elsewhere keep working) but nothing identifies the person; the
    audit log's events about them are scrubbed (`audit_events_scrub_person`) and the erasure is
    recorded (`user.erase`, under the row's id).
    """
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            return False
        if user.erased_at is not None:
            return True
        email = user.email
        user.email = ""
        user.full_name = None
        user.avatar_url = None
        user.is_active = False
        user.set_unusable_password()
        user.erased_at = timezone.now()
        user.save()
        _erase_personal_data(user_id, email=email)
        audit_record(action="user.erase", target_type="user", target_id=user_id)
    logger.info("user personal data erased", extra={"user_id": user_id})
    return True


def users_set_active(*, users: Iterable[User], active: bool, acting_user: User) -> int:
    """Activate or deactivate users from the admin, never the acting staff member.

    Each user whose state changes is recorded (`user.activate`, `user.deactivate`) as done by
    `acting_user`.
    """
    ids = [user.pk for user in users if user.pk != acting_user.pk]
    with transaction.atomic():
        changing = list(
            User.objects.filter(pk__in=ids).exclude(is_active=active).values_list("pk", flat=True)
        )
        updated = User.objects.filter(pk__in=ids).update(
            is_active=active, updated_at=timezone.now()
        )
        audit_record_many(
            action="user.activate" if active else "user.deactivate",
            targets=[("user", pk, {"is_active": (not active, active)}) for pk in changing],
            actor=acting_user,
            actor_type=AuditEvent.ActorType.STAFF,
        )
        if not active:
            sockets_close_on_commit(*changing)
    return updated


def users_delete(*, users: QuerySet[User]) -> int:
    """Delete users for good (the admin's delete): everything every app keeps about them goes
    first, through the personal-data registry (stored files included), then the rows."""
    with transaction.atomic():
        user_ids = list(users.values_list("pk", flat=True))
        # The users' rows first, as erasure and file confirmation lock them (then their files).
        emails = dict(
            User.objects.select_for_update()
            .filter(pk__in=user_ids)
            .order_by("pk")
            .values_list("pk", "email")
        )
        for user_id in user_ids:
            _erase_personal_data(user_id, email=emails.get(user_id, ""))
        deleted, _ = User.objects.filter(pk__in=user_ids).delete()
        sockets_close_on_commit(*user_ids)
    logger.info("users deleted", extra={"user_ids": user_ids})
    return deleted


def identity_profile(
    *, email: str | None, full_name: str | None, avatar_url: str | None
) -> dict[str, Any]:
    """The profile fields to store from an identity provider's values: the one cleaning of
    token claims (`profile_from_claims`) and of the provider's webhooks (`user_sync_from_identity`).

    The email is stripped, lower-cased and kept only when valid (else empty, as the column holds
    no null); a blank name is None, a long one is cut to 255 characters; an avatar that is not a
    valid URL of at most 2048 characters is None.
    """
    email = email.strip() if isinstance(email, str) else None
    full_name = full_name.strip() if isinstance(full_name, str) else None
    avatar_url = avatar_url.strip() if isinstance(avatar_url, str) else None
    valid_email = _valid_or_none(email or None, EmailValidator(), 320)
    return {
        "email": (valid_email or "").lower(),
        "full_name": full_name[:255] if full_name else None,
        "avatar_url": _valid_or_none(avatar_url or None, URLValidator(), 2048),
    }


def user_sync_from_identity(
    *,
    user_id: str,
    email: str | None,
    full_name: str | None,
    avatar_url: str | None,
    synced_at: datetime | None,
    email_verified: bool | None = None,
) -> IdentitySyncOutcome:
    """Create or update a user's profile from the identity provider's copy of it.

    `synced_at` is the provider's update time of this copy: a copy older than the last one
    applied (`identity_synced_at`) is `stale` and changes nothing, so deliveries arriving out of
    order end in the newest profile. A copy without one is applied without moving that mark.
    Only email, full name and avatar are written: a deactivated user stays deactivated, and an
    erased user (`erased`) is never written again, so a late delivery cannot bring personal data
    back. `email_verified` is the provider's word on the email (None: it says nothing,
    `email_verified_default`). Returns what happened.
    """
    profile = identity_profile(email=email, full_name=full_name, avatar_url=avatar_url)
    profile["email_verified"] = bool(profile["email"]) and email_verified_default(email_verified)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            try:
                with transaction.atomic():
                    created = User.objects.create(
                        id=user_id,
                        **profile,
                        identity_synced_at=synced_at,
                        password=make_password(None),
                    )
            except IntegrityError:
                # Created meanwhile by its first API request: update that row instead.
                user = User.objects.select_for_update().get(pk=user_id)
            else:
                logger.info("user created from identity provider", extra={"user_id": user_id})
                user_send_welcome(user=created)
                return "created"
        if user.erased_at is not None:
            return "erased"
        if (
            synced_at is not None
            and user.identity_synced_at is not None
            and synced_at < user.identity_synced_at
        ):
            return "stale"
        changed = [name for name, value in profile.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, profile[name])
        if synced_at is not None and synced_at != user.identity_synced_at:
            user.identity_synced_at = synced_at
            changed.append("identity_synced_at")
        if not changed:
            return "unchanged"
        user.save(update_fields=[*changed, "updated_at"])
    logger.info("user updated from identity provider", extra={"user_id": user_id})
    return "updated"


def user_delete_from_identity(*, user_id: str) -> bool:
    """The identity provider deleted this user: deactivate now, erase personal data after.

    The same path as DELETE /users/me (`user_deactivate`): every later request with the user's
    token is refused, and the erasure (profile, projects, files) runs in the background. Idempotent;
    an already erased user is left as is. Returns False, doing nothing, for an unknown user.
    """
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return False
    if user.erased_at is None:
        user_deactivate(user=user, by_provider=True)
        logger.info("user deleted by identity provider", extra={"user_id": user_id})
    return True
