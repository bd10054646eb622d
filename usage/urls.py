from django.urls import URLPattern, URLResolver, path

from usage.views import UsageSummaryView

urlpatterns: list[URLPattern | URLResolver] = [
    path("usage/summary", UsageSummaryView.as_view(), name="usage-summary"),
]
