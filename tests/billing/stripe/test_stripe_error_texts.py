"""Stripe's own error texts never reach the client: they are logged, and the client gets the 502
(504 on a timeout) envelope with a generic message and details.service."""

from __future__ import annotations

import logging

import pytest

from tests.billing.conftest import APP_ORIGIN

pytestmark = pytest.mark.django_db

SECRET = "No such customer: 'cus_LeAkEd'; a similar object exists in live mode (sk_live_L3aK3d99)"


def test_a_stripe_error_message_is_logged_not_returned(stripe_fake, api, user, caplog):
    caplog.set_level(logging.WARNING)
    answer = stripe_fake.answer

    def leaky(request):
        if request.method == "POST":
            return 400, {"error": {"type": "invalid_request_error", "message": SECRET}}
        return answer(request)

    stripe_fake.answer = leaky  # the fake Stripe answers every POST with a revealing error

    response = api.as_user(user).post(
        "/api/v1/app/billing/checkout",
        {
            "plan": "monthly",
            "success_url": f"{APP_ORIGIN}/ok",
            "cancel_url": f"{APP_ORIGIN}/cancel",
        },
    )

    assert response.status_code == 502, response.content
    assert b"cus_LeAkEd" not in response.content and b"sk_live_" not in response.content
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("EXTERNAL_SERVICE_ERROR", "Stripe request failed")
    assert error["details"]["service"] == "stripe"
    assert SECRET in caplog.text
