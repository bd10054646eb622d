"""Small helpers shared by the API views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as every timestamp in the API."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validate request data with an input serializer; a failure becomes the 422 envelope."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PublicAPIView(APIView):
    """A view under /api/v1/public: no authentication, no throttling (health, metrics, webhooks)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
