from django.urls import URLPattern, URLResolver, path

from billing.appstore.intake import AppleWebhookView
from billing.googleplay.intake import GoogleWebhookView
from billing.stripe.intake import StripeWebhookView

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/stripe", StripeWebhookView.as_view(), name="webhooks-stripe"),
    path("webhooks/apple", AppleWebhookView.as_view(), name="webhooks-apple"),
    path("webhooks/google", GoogleWebhookView.as_view(), name="webhooks-google"),
]
