from django.urls import URLPattern, URLResolver, path

from billing.views import (
    BillingCancelView,
    BillingCheckoutView,
    BillingInvoicesView,
    BillingPlansView,
    BillingPortalView,
    BillingResumeView,
    BillingStatusView,
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("billing/status", BillingStatusView.as_view(), name="billing-status"),
    path("billing/plans", BillingPlansView.as_view(), name="billing-plans"),
    path("billing/invoices", BillingInvoicesView.as_view(), name="billing-invoices"),
    path("billing/checkout", BillingCheckoutView.as_view(), name="billing-checkout"),
    path("billing/portal", BillingPortalView.as_view(), name="billing-portal"),
    path("billing/cancel", BillingCancelView.as_view(), name="billing-cancel"),
    path("billing/resume", BillingResumeView.as_view(), name="billing-resume"),
]
