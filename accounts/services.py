"""Writes to users: creation from token claims, logins, profile, deactivation and erasure."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from accounts.selectors import user_get_cached
from accounts.user_cache import forget_users
from files.services import files_delete_for_owner
from projects.services import projects_erase

logger = logging.getLogger(__name__)

UNSET: Any = object()


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


def profile_from_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The profile fields a token carries, in Supabase, Clerk, Auth0 or plain OIDC style."""
    email = _valid_or_none(_first_claim(claims, "email"), EmailValidator(), 320)
    full_name = _first_claim(claims, "name", "full_name")
    avatar = _first_claim(claims, "picture", "avatar_url")
    return {
        "email": (email or "").lower(),
        "full_name": full_name[:255] if full_name else None,
        "avatar_url": _valid_or_none(avatar, URLValidator(), 2048),
    }


def user_get_or_create_from_claims(*, claims: Mapping[str, Any]) -> User:
    """The token's user, created from its claims on first sight (one query when known)."""
    user = user_get_cached(user_id=claims["sub"])
    if user is not None:
        return user
    # API users never sign in with a password.
    defaults = {**profile_from_claims(claims), "password": make_password(None)}
    user, created = User.objects.get_or_create(pk=claims["sub"], defaults=defaults)
    if created:
        logger.info("user created from token", extra={"user_id": user.pk})
    return user


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
        forget_users(user.pk)


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


def user_deactivate(*, user: User) -> None:
    """Deactivate now (every later request gets 403) and erase personal data in the background."""
    from accounts.tasks import erase_user

    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False, updated_at=timezone.now())
        forget_users(user.pk)
        user.is_active = False
        transaction.on_commit(lambda: erase_user.delay(user.pk))


def user_erase(*, user_id: str) -> bool:
    """Anonymise a deactivated user's personal fields; idempotent. Returns False if not found.

    The row stays (ids referenced elsewhere keep working) but nothing identifies the person.
    """
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            return False
        if user.erased_at is not None:
            return True
        user.email = ""
        user.full_name = None
        user.avatar_url = None
        user.is_active = False
        user.set_unusable_password()
        user.erased_at = timezone.now()
        user.save()
        projects_erase(owner_id=user_id)
        files_delete_for_owner(owner_id=user_id)
    logger.info("user personal data erased", extra={"user_id": user_id})
    return True


def users_set_active(*, users: Iterable[User], active: bool, acting_user: User) -> int:
    """Activate or deactivate users from the admin, never the acting staff member."""
    ids = [user.pk for user in users if user.pk != acting_user.pk]
    changed = User.objects.filter(pk__in=ids).update(is_active=active, updated_at=timezone.now())
    forget_users(*ids)
    return changed
