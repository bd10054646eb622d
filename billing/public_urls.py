from django.urls import URLPattern, URLResolver, path

from billing.stripe_webhooks import StripeWebhookView

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/stripe", StripeWebhookView.as_view(), name="webhooks-stripe"),
]
