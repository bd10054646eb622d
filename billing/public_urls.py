from django.urls import URLPattern, URLResolver, path

from billing.apple_webhooks import AppleWebhookView
from billing.google_webhooks import GoogleWebhookView
from billing.stripe_webhooks import StripeWebhookView

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/stripe", StripeWebhookView.as_view(), name="webhooks-stripe"),
    path("webhooks/apple", AppleWebhookView.as_view(), name="webhooks-apple"),
    path("webhooks/google", GoogleWebhookView.as_view(), name="webhooks-google"),
]
