from django.urls import URLPattern, URLResolver, path

from flags.views import FlagListView

urlpatterns: list[URLPattern | URLResolver] = [
    path("flags", FlagListView.as_view(), name="flags"),
]
