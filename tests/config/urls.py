"""The project's routes plus one that fails, to see what a 500 looks like."""

import logging

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urls


def plain_django_view_that_fails(request):
    raise RuntimeError("secret internals: /srv/app/settings.py line 42")


class ApiViewThatFails(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        # A log line naming a URL with a credential: Sentry keeps it as a breadcrumb of the error.
        if "ticket" in request.GET:
            logging.getLogger("tests.failure").warning(
                "failing for %s?ticket=%s", request.path, request.GET["ticket"]
            )
        raise ZeroDivisionError("secret internals")


urlpatterns = [
    path("api/v1/public/test-failure", ApiViewThatFails.as_view()),
    path("test-failure", plain_django_view_that_fails),
    *project_urls,
]
