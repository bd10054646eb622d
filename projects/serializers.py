"""Input and output shapes of /projects."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config.api import iso_utc
from config.serializers import StrictInput
from projects.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, Project


class ProjectInput(StrictInput):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH, trim_whitespace=True)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
    )


class ProjectUpdateInput(ProjectInput):
    """Every field optional; `name` may not be null or blank."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)


class ProjectOutput(serializers.Serializer):
    """The Project shape. Declared fields document it; `to_representation` is the fast path."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True, allow_null=True)
    owner_id = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Project | dict[str, Any]) -> dict[str, Any]:
        row = instance if isinstance(instance, dict) else instance.__dict__
        return {
            "id": str(row["id"]),
            "name": row["name"],
            "description": row["description"],
            "owner_id": row["owner_id"],
            "created_at": iso_utc(row["created_at"]),
            "updated_at": iso_utc(row["updated_at"]),
        }
