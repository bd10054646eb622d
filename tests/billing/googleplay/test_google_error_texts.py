"""Google Play's own error texts never reach the client: they are logged, and the client gets
the 502 envelope with a generic message and details.service."""

from __future__ import annotations

import logging

import pytest

from tests.billing.googleplay.conftest import LINK_URL

pytestmark = pytest.mark.django_db

SECRET = "Project 1234 service account play@leaked.iam: key 0123456789abcdef is disabled"


def _leaky(google, status: int, *, path_part: str) -> None:
    answer = google.answer

    def leaky(request):
        if path_part in request.path:
            if path_part == "/token":
                return status, {"error": "invalid_grant", "error_description": SECRET}
            return status, {"error": {"code": status, "message": SECRET, "status": "ERROR"}}
        return answer(request)

    google.answer = leaky


@pytest.mark.parametrize(
    ("status", "path_part"), [(500, "/purchases/"), (403, "/purchases/"), (400, "/token")]
)
def test_a_play_error_message_is_logged_not_returned(api, user, google, caplog, status, path_part):
    caplog.set_level(logging.WARNING)
    token = google.add_subscription()
    _leaky(google, status, path_part=path_part)

    response = api.as_user(user).post(
        LINK_URL, {"purchase_token": token, "subscription_id": "pro_monthly"}
    )

    assert response.status_code == 502, response.content
    assert b"leaked" not in response.content and b"0123456789abcdef" not in response.content
    error = response.json()["error"]
    assert error["code"] == "EXTERNAL_SERVICE_ERROR"
    assert error["details"]["service"] == "google_play"
    assert SECRET in caplog.text
