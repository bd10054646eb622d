"""Liveness and readiness probes and the Prometheus scrape (public, never throttled)."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import PublicAPIView, iso_utc
from config.errors import AuthenticationError
from config.metrics import metrics_exposition
from config.openapi import error_responses

logger = logging.getLogger(__name__)


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any failure means the component is down
        logger.warning("readiness check failed: %s", exc)
        status = "unhealthy"
    else:
        status = "healthy"
    return {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _ping_redis() -> None:
    from django_redis import get_redis_connection

    get_redis_connection("default").ping()


def readiness() -> tuple[bool, dict[str, Any]]:
    """Check the database (required) and Redis (optional); returns (ready, body)."""
    database = _timed(_ping_database)
    if database["status"] != "healthy":
        # Drop the broken connection so the next probe reconnects instead of reusing it.
        connection.close_if_unusable_or_obsolete()
    redis: dict[str, Any] = (
        _timed(_ping_redis)
        if settings.REDIS_URL
        else {"status": "not_configured", "latency_ms": None}
    )
    if database["status"] != "healthy":
        status = "unhealthy"
    elif redis["status"] == "unhealthy":
        status = "degraded"
    else:
        status = "healthy"
    body = {
        "status": status,
        "timestamp": iso_utc(timezone.now()),
        "components": {"database": database, "redis": redis},
    }
    return database["status"] == "healthy", body


class HealthComponent(serializers.Serializer):
    status = serializers.ChoiceField(["healthy", "unhealthy", "not_configured"])
    latency_ms = serializers.FloatField(allow_null=True)


Readiness = inline_serializer(
    "Readiness",
    {
        "status": serializers.ChoiceField(["healthy", "degraded", "unhealthy"]),
        "timestamp": serializers.DateTimeField(),
        # One instance per field: one instance under two names is documented under the last only.
        "components": inline_serializer(
            "ReadinessComponents", {"database": HealthComponent(), "redis": HealthComponent()}
        ),
    },
)


class HealthView(PublicAPIView):
    """Liveness: the process answers."""

    @extend_schema(
        tags=["health"],
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.CharField(),
                "timestamp": serializers.DateTimeField(),
                "version": serializers.CharField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "status": "healthy",
                "timestamp": iso_utc(timezone.now()),
                "version": settings.APP_VERSION,
            }
        )


class ReadinessView(PublicAPIView):
    """Readiness: 200 when the database answers, 503 otherwise."""

    @extend_schema(
        tags=["health"],
        responses={200: Readiness, 503: Readiness},
    )
    def get(self, request: Request) -> Response:
        ready, body = readiness()
        return Response(body, status=200 if ready else 503)


def metrics_token_valid(authorization: str) -> bool:
    """True when METRICS_TOKEN is unset, or `authorization` is `Bearer <METRICS_TOKEN>`.

    Compared in constant time, so the answer's timing says nothing about the token.
    """
    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    scheme, _, supplied = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        supplied.strip().encode(), expected.encode()
    )


class MetricsView(PublicAPIView):
    """Prometheus metrics of every process (text exposition format)."""

    @extend_schema(
        tags=["health"],
        description=(
            "Prometheus text format. When `METRICS_TOKEN` is set, requires "
            "`Authorization: Bearer <METRICS_TOKEN>` (401 otherwise)."
        ),
        responses={
            (200, "text/plain"): OpenApiTypes.STR,
            **error_responses({401: "AUTHENTICATION_ERROR: missing or wrong metrics token."}),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        if not metrics_token_valid(request.META.get("HTTP_AUTHORIZATION", "")):
            raise AuthenticationError("A valid metrics token is required")
        body, content_type = metrics_exposition()
        return HttpResponse(body, content_type=content_type)
