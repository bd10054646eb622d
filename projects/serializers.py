"""Input and output shapes of /projects."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from projects.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, Project


class ProjectInput(serializers.Serializer):
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


class ProjectOutput(serializers.ModelSerializer[Project]):
    class Meta:
        model = Project
        fields = ["id", "name", "description", "owner_id", "created_at", "updated_at"]
        read_only_fields = fields
