from django.urls import URLPattern, URLResolver, path

from billing.views import BillingPlansView, BillingStatusView

urlpatterns: list[URLPattern | URLResolver] = [
    path("billing/status", BillingStatusView.as_view(), name="billing-status"),
    path("billing/plans", BillingPlansView.as_view(), name="billing-plans"),
]
