from django.urls import URLPattern, URLResolver, path

from accounts.identity_webhooks import ClerkWebhookView, SupabaseWebhookView
from accounts.views import DataExportDownloadView

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/clerk", ClerkWebhookView.as_view(), name="webhooks-clerk"),
    path("webhooks/supabase", SupabaseWebhookView.as_view(), name="webhooks-supabase"),
    # The signed token travels in the query string (?token=), which the access log never writes.
    path("exports/download", DataExportDownloadView.as_view(), name="exports-download"),
]
