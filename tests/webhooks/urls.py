"""The project's routes plus the test provider's webhook endpoint."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from config.urls import urlpatterns as project_urls
from tests.webhooks.provider import BearerWebhookView, SignedWebhookView

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/public/webhooks/test", SignedWebhookView.as_view(), name="webhooks-test"),
    path(
        "api/v1/public/webhooks/test-bearer",
        BearerWebhookView.as_view(),
        name="webhooks-test-bearer",
    ),
    *project_urls,
]
