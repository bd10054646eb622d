from django.urls import URLPattern, URLResolver, path

from billing.appstore.views import AppleTransactionLinkView
from billing.googleplay.views import GooglePurchaseLinkView
from billing.stripe.views import (
    BillingCancelView,
    BillingCheckoutView,
    BillingInvoicesView,
    BillingPortalView,
    BillingResumeView,
)
from billing.views import BillingPlansView, BillingStatusView

urlpatterns: list[URLPattern | URLResolver] = [
    path("billing/status", BillingStatusView.as_view(), name="billing-status"),
    path("billing/plans", BillingPlansView.as_view(), name="billing-plans"),
    path("billing/invoices", BillingInvoicesView.as_view(), name="billing-invoices"),
    path("billing/checkout", BillingCheckoutView.as_view(), name="billing-checkout"),
    path("billing/portal", BillingPortalView.as_view(), name="billing-portal"),
    path("billing/cancel", BillingCancelView.as_view(), name="billing-cancel"),
    path("billing/resume", BillingResumeView.as_view(), name="billing-resume"),
    path("billing/iap/apple", AppleTransactionLinkView.as_view(), name="billing-iap-apple"),
    path("billing/iap/google", GooglePurchaseLinkView.as_view(), name="billing-iap-google"),
]
