from django.urls import URLPattern, URLResolver, path

from notifications.intake import EmailTrackingWebhookView

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/email", EmailTrackingWebhookView.as_view(), name="webhooks-email"),
]
