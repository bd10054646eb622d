from django.urls import URLPattern, URLResolver, path

from accounts.identity_webhooks import ClerkWebhookView, SupabaseWebhookView

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/clerk", ClerkWebhookView.as_view(), name="webhooks-clerk"),
    path("webhooks/supabase", SupabaseWebhookView.as_view(), name="webhooks-supabase"),
]
