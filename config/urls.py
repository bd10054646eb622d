"""Routes: the admin, the versioned API, its schema and docs, and JSON error handlers."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from config import errors
from config.health import HealthView, MetricsView, ReadinessView

public_urls: list[URLPattern | URLResolver] = [
    path("health", HealthView.as_view(), name="health"),
    path("health/ready", ReadinessView.as_view(), name="health-ready"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("", include("files.public_urls")),
    path("", include("billing.public_urls")),
    path("", include("accounts.public_urls")),
    path("", include("notifications.public_urls")),
]

app_urls: list[URLPattern | URLResolver] = [
    path("", include("accounts.urls")),
    path("", include("projects.urls")),
    path("", include("files.urls")),
    path("", include("billing.urls")),
    path("", include("usage.urls")),
    path("", include("ai.urls")),
    path("", include("flags.urls")),
    path("", include("realtime.urls")),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    # Staff sign-in through the company's OIDC provider (accounts/sso.py; 404 while unconfigured).
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/v1/public/", include(public_urls)),
    path("api/v1/app/", include(app_urls)),
]

if settings.API_DOCS_ENABLED:
    urlpatterns += [
        path("api/v1/openapi.json", SpectacularJSONAPIView.as_view(), name="schema"),
        path("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
        path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    ]

if settings.BENCH_CEILINGS:
    urlpatterns.append(path("bench/", include("bench.ceilings")))

# Anything else under /api/ is a JSON 404, whatever DEBUG says.
urlpatterns.append(re_path(r"^api/", errors.page_not_found))

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
