"""The user (one row per identity-provider subject), the email outbox and data exports."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from accounts.user_cache import forget_users
from config.models import BaseModel, TimestampedModel


def new_local_user_id() -> str:
    """Id for accounts made here (createsuperuser, the admin), not by the identity provider."""
    return f"local|{uuid.uuid4()}"


class UserManager(BaseUserManager["User"]):
    """Creates staff accounts for the admin; API users are created from token claims."""

    use_in_migrations = True

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        forget_users(self.pk)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        user_id = self.pk
        result = super().delete(*args, **kwargs)
        forget_users(user_id)
        return result


class EmailMessage(BaseModel):
    """One email in the outbox: rendered when queued, sent by a Celery task, kept as a record.

    `queued` (waiting for the task, also between retries) → `sent` (the provider accepted it;
    `provider_message_id` when the provider gives one) or `failed` (every attempt failed; staff
    can queue it again from the admin).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="email_messages",
        help_text="The user the email concerns; empty for staff reports.",
    )
    to = models.EmailField(max_length=320)
    template = models.CharField(max_length=64)
    subject = models.CharField(max_length=998)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    provider_message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True, help_text="The error of the latest failed attempt.")
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "email_messages"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="email_messages_status_idx"),
            models.Index(fields=["user", "template"], name="email_messages_user_tpl_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.status})"


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
