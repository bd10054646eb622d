"""Counts the `api_requests` usage metric: one per authenticated request to /api/v1/app/ made by
the user (not by staff impersonating them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import LazyObject

from config.observability import impersonator_id_var
from usage.services import usage_record

APP_PREFIX = "/api/v1/app/"


def metered_user_id(request: HttpRequest, user: Any) -> str | None:
    """The id of the user a request to the app API counts for, or None when it counts for
    nobody: anonymous, not under /api/v1/app/, or made with a staff impersonation token."""
    if (
        request.path.startswith(APP_PREFIX)
        and user is not None
        and not isinstance(user, LazyObject)
        and user.is_authenticated
        and impersonator_id_var.get() is None
    ):
        return str(user.pk)
    return None


class UsageMiddleware:
    """After the response, counts the request for its user when DRF authenticated one.

    DRF puts the user it authenticated on the Django request; requests it did not authenticate
    (anonymous, 401, a deactivated user's 403, a URL no view answers) are not counted, nor those
    made with a staff member's impersonation token (support work is not the user's usage; the
    audit log has them). Requests the default rate limit already counted
    (`usage.throttling.MeteredRateThrottle`, in its own round trip) are left alone; the others
    cost one cache round trip here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "usage_counted", False) or response.status_code == 401:
            return response
        # Still Django's lazy session user when no DRF view authenticated this request (and
        # looking at it would load the session): `metered_user_id` refuses it.
        user_id = metered_user_id(request, request.__dict__.get("user"))
        if user_id is not None:
            usage_record(user_id=user_id, metric="api_requests")
        return response
