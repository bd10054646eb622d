"""Routes of /api/v1/app/ai."""

from django.urls import path

from ai.views import AIChatRoutedView, AIChatView, AICompletionsView, AIStatusView

urlpatterns = [
    path("ai/status", AIStatusView.as_view(), name="ai-status"),
    path("ai/completions", AICompletionsView.as_view(), name="ai-completions"),
    path("ai/chat", AIChatView.as_view(), name="ai-chat"),
    path("ai/chat/routed", AIChatRoutedView.as_view(), name="ai-chat-routed"),
]
