"""The user (one row per identity-provider subject) and data exports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.lookups import Exact, In
from django.db.models.sql.where import AND
from django.utils import timezone

from accounts.sockets import sockets_close_on_commit
from accounts.user_cache import forget_users
from config.models import BaseModel, TimestampedModel


def new_local_user_id() -> str:
    """Id for accounts made here (createsuperuser, the admin), not by the identity provider."""
    return f"local|{uuid.uuid4()}"


class UserQuerySet(models.QuerySet["User"]):
    """Bulk writes to users that also drop them from the user cache (`accounts.user_cache`).

    With `User.save` and `User.delete`, this is where every change to a user row forgets the
    cached copy that authentication reads, so no path (services, the admin's bulk actions, a
    shell) can leave a request seeing a stale `is_active`, role or plan.
    """

    def _ids(self) -> list[str]:
        """The ids of the rows this queryset can touch: read from the filter when it pins the
        primary key (no query, as on the authentication path), else from the database."""
        where = self.query.where
        if where.connector == AND and not where.negated:
            for lookup in where.children:
                target = getattr(getattr(lookup, "lhs", None), "target", None)
                if target is None or not target.primary_key:
                    continue
                if isinstance(lookup, Exact) and isinstance(lookup.rhs, str):
                    return [lookup.rhs]
                if (
                    isinstance(lookup, In)
                    and isinstance(lookup.rhs, list | tuple | set)
                    and all(isinstance(value, str) for value in lookup.rhs)
                ):
                    return list(lookup.rhs)
        return list(self.order_by().values_list("pk", flat=True))

    def update(self, **kwargs: Any) -> int:
        user_ids = self._ids()
        changed = super().update(**kwargs)
        forget_users(*user_ids)
        return changed

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        objs = list(objs)
        changed = super().bulk_update(objs, fields, batch_size=batch_size)
        forget_users(*(obj.pk for obj in objs))
        return changed

    def delete(self) -> tuple[int, dict[str, int]]:
        user_ids = self._ids()
        result = super().delete()
        forget_users(*user_ids)
        return result


class UserManager(BaseUserManager["User"]):
    """Creates staff accounts for the admin; API users are created from token claims."""

    use_in_migrations = True

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db)

    def get_by_natural_key(self, username: str | None) -> User:
        # Several subjects may share an email; only staff sign in with one, so prefer them.
        user = self.filter(email__iexact=username).order_by("-is_staff", "created_at").first()
        if user is None:
            raise self.model.DoesNotExist(f"No user with email {username!r}")
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        """A user with a generated id (staff and scripts; the API creates users from tokens)."""
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        """What `createsuperuser` calls: a staff superuser with the superadmin role."""
        extra.update(is_staff=True, is_superuser=True, role=User.Role.SUPERADMIN)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin, TimestampedModel):
    """A person using the product, identified by the identity provider's `sub`."""

    class Role(models.TextChoices):
        USER = "user", "User"
        ADMIN = "admin", "Admin"
        SUPERADMIN = "superadmin", "Superadmin"

    id = models.CharField(
        primary_key=True, max_length=255, default=new_local_user_id, editable=False
    )
    email = models.EmailField(max_length=320, blank=True, db_index=True)
    email_verified = models.BooleanField(
        default=True,
        help_text=(
            "Whether the identity provider vouches for the email (accounts made here: yes). An "
            "unverified email is never mailed nor given to Stripe."
        ),
    )
    full_name = models.CharField(max_length=255, null=True, blank=True)
    avatar_url = models.URLField(max_length=2048, null=True, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    is_active = models.BooleanField(default=True, db_index=True)
    is_staff = models.BooleanField(default=False)
    subscription_plan = models.CharField(max_length=32, default="free")
    subscription_status = models.CharField(max_length=32, default="none")
    last_login_at = models.DateTimeField(null=True, blank=True)
    login_count = models.PositiveIntegerField(default=0)
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="When the personal data was anonymised."
    )
    identity_synced_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "The identity provider's update time of the last profile sync applied from its "
            "webhooks; older deliveries are ignored."
        ),
    )

    # `last_login_at` replaces Django's `last_login`.
    last_login = None

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "users"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email or self.id

    @property
    def deliverable_email(self) -> str:
        """The address mail and payment providers may be given: the email once verified, else
        empty."""
        return self.email if self.email_verified else ""

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        forget_users(self.pk)
        if not self.is_active:
            # However it was deactivated (a service, the admin's form), its sockets close.
            sockets_close_on_commit(self.pk)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        user_id = self.pk
        result = super().delete(*args, **kwargs)
        forget_users(user_id)
        sockets_close_on_commit(user_id)
        return result


class DataExport(BaseModel):
    """A user's request for a copy of their data (POST /users/me/export).

    `queued` → `ready` (the JSON is stored as one of the user's files and the link was emailed)
    or `failed`.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    file = models.ForeignKey(
        "files.File", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "data_exports"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Export of {self.user_id} ({self.status})"


class Impersonation(models.Model):
    """A staff member acting as a user through a short-lived API token (`accounts.impersonation`).

    The row's id is the token's `jti`: authentication reads the row on every request made with
    the token, so ending a session (`ended_at`) takes effect on the next request. Staff need the
    `accounts.impersonate_user` permission to start one; staff and superusers are never targets.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    staff = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        help_text="Who acts as the user.",
    )
    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="impersonations",
        help_text="The user acted as.",
    )
    reason = models.TextField(help_text="Why, as given by the staff member.")
    allow_changes = models.BooleanField(
        default=False, help_text="Whether writes (POST, PATCH, DELETE) are allowed, not only reads."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it was ended early.")
    ended_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "impersonations"
        ordering = ["-created_at"]
        # Rows are written by the impersonation services only: staff may view them, not edit.
        default_permissions = ("view",)
        permissions = [("impersonate_user", "Can impersonate users")]

    def __str__(self) -> str:
        return f"{self.staff_id} as {self.user_id}"

    def is_active(self, at: datetime | None = None) -> bool:
        """Neither ended nor expired (at `at`, default now)."""
        return self.ended_at is None and self.expires_at > (at or timezone.now())

    @property
    def status(self) -> str:
        """active, ended or expired."""
        if self.ended_at is not None:
            return "ended"
        return "active" if self.is_active() else "expired"
