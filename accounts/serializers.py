"""Input and output shapes of /users/me and /users/me/export."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import DataExport, User
from config.serializers import StrictInput


class UserOutput(serializers.ModelSerializer[User]):
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
