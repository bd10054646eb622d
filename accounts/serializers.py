"""Input and output shapes of /users/me and /users/me/export."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import DataExport, User
from config.api import iso_utc
from config.serializers import StrictInput


class UserOutput(serializers.ModelSerializer[User]):
    """The profile. The Meta documents the shape; `to_representation` is the fast path (a
    ModelSerializer builds its fields from the model on every instance, which cost more than the
    rest of `GET /users/me`)."""

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "full_name",
            "avatar_url",
            "role",
            "is_active",
            "subscription_plan",
            "subscription_status",
            "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: User) -> dict[str, Any]:
        return {
            "id": instance.pk,
            "email": instance.email,
            "full_name": instance.full_name,
            "avatar_url": instance.avatar_url,
            "role": str(instance.role),
            "is_active": instance.is_active,
            "subscription_plan": instance.subscription_plan,
            "subscription_status": instance.subscription_status,
            "created_at": iso_utc(instance.created_at),
        }


class UserUpdateInput(StrictInput):
    """Fields a user may change; anything else in the body is ignored."""

    full_name = serializers.CharField(
        max_length=255, required=False, allow_null=True, allow_blank=True
    )
    avatar_url = serializers.URLField(
        max_length=2048, required=False, allow_null=True, allow_blank=True
    )


class DataExportOutput(serializers.ModelSerializer[DataExport]):
    """A queued data export (the answer of POST /users/me/export)."""

    email = serializers.SerializerMethodField(
        help_text="Where the download link will be sent; null when the account has no email "
        "(the export then only appears among the user's files)."
    )

    class Meta:
        model = DataExport
        fields = ["id", "status", "email", "created_at"]
        read_only_fields = fields

    def get_email(self, export: DataExport) -> str | None:
        return export.user.email or None
