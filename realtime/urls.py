from django.urls import URLPattern, URLResolver, path

from realtime.views import TicketView

urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/ticket", TicketView.as_view(), name="ws-ticket"),
]
