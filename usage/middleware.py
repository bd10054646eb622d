"""Counts the `api_requests` usage metric: one per authenticated request to /api/v1/app/ made by
the user (not by staff impersonating them)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import LazyObject

from config.observability import impersonator_id_var
from usage.services import usage_record

APP_PREFIX = "/api/v1/app/"


class UsageMiddleware:
    """After the response, counts the request for its user when DRF authenticated one.

    DRF puts the user it authenticated on the Django request; requests it did not authenticate
    (anonymous, 401, a deactivated user's 403, a URL no view answers) are not counted, nor those
    made with a staff member's impersonation token (support work is not the user's usage; the
    audit log has them). Costs one cache round trip per counted request and nothing otherwise.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(APP_PREFIX):
            # Still Django's lazy session user: no DRF view authenticated this request (and
            # looking at it would load the session).
            user = request.__dict__.get("user")
            if (
                user is not None
                and not isinstance(user, LazyObject)
                and user.is_authenticated
                and response.status_code != 401
                and impersonator_id_var.get() is None
            ):
                usage_record(user_id=str(user.pk), metric="api_requests")
        return response
