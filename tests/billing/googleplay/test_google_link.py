"""POST /api/v1/app/billing/iap/google: link a Play subscription, verified with Play's API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.models import Entitlement
from tests.billing.googleplay.conftest import LINK_URL, STATUS_URL

pytestmark = pytest.mark.django_db


def link(api, user, token, subscription_id="pro_monthly"):
    return api.as_user(user).post(
        LINK_URL, {"purchase_token": token, "subscription_id": subscription_id}
    )


def assert_envelope(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def test_linking_a_purchase_grants_its_plan_and_returns_the_billing_status(api, user, google):
    expiry = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    token = google.add_subscription(product_id="team_yearly", expiry=expiry)

    response = link(api, user, token, "team_yearly")

    assert response.status_code == 200, response.content
    expected = {
        "plan": "enterprise",
        "status": "active",
        "source": "google",
        "current_period_end": "2031-05-01T12:00:00Z",
        "cancel_at_period_end": False,
        "has_active_subscription": True,
    }
    assert response.json() == expected
    assert api.as_user(user).get(STATUS_URL).json() == expected
    entitlement = Entitlement.objects.get(source="google", external_id=token)
    assert (entitlement.user, entitlement.product_id) == (user, "team_yearly")
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("enterprise", "active")
    # The service account's access token was obtained from the key's token_uri and used.
    assert len(google.calls("POST", "/token")) == 1
    assert google.purchase_reads[0].headers["authorization"].startswith("Bearer ya29.fake-")


def test_linking_again_is_idempotent(api, user, google):
    token = google.add_subscription()

    first = link(api, user, token)
    again = link(api, user, token)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert Entitlement.objects.filter(source="google", external_id=token).count() == 1


def test_an_unacknowledged_purchase_is_acknowledged_with_its_subscription_id(api, user, google):
    token = google.add_subscription(acknowledged=False)

    assert link(api, user, token).status_code == 200

    [ack] = google.acknowledgements
    assert f"/purchases/subscriptions/pro_monthly/tokens/{token}:acknowledge" in ack.path
    assert google.purchases[token]["acknowledgementState"] == "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
    assert link(api, user, token).status_code == 200
    assert len(google.acknowledgements) == 1  # already acknowledged: not again


def test_an_acknowledged_purchase_is_not_acknowledged_again(api, user, google):
    token = google.add_subscription(acknowledged=True)

    assert link(api, user, token).status_code == 200

    assert google.acknowledgements == []


def test_a_purchase_linked_to_another_user_is_a_conflict(api, user, other_user, google):
    token = google.add_subscription()
    assert link(api, user, token).status_code == 200

    error = assert_envelope(link(api, other_user, token), 409, "CONFLICT")

    assert error["details"]["source"] == "google"
    assert Entitlement.objects.get(external_id=token).user == user
    assert api.as_user(other_user).get(STATUS_URL).json()["plan"] == "free"


def test_a_purchase_made_from_another_account_is_a_conflict(api, user, other_user, google):
    token = google.add_subscription(account_id=other_user.pk)

    assert_envelope(link(api, user, token), 409, "CONFLICT")

    assert not Entitlement.objects.exists()


def test_a_purchase_made_from_this_account_links(api, user, google):
    token = google.add_subscription(account_id=user.pk)

    assert link(api, user, token).status_code == 200


@pytest.mark.parametrize("token", ["unknown-purchase-token", "gone-purchase-token"])
def test_a_token_play_does_not_know_is_a_bad_request(api, user, google, token):
    error = assert_envelope(link(api, user, token), 400, "BAD_REQUEST")

    assert error["details"]["service"] == "google_play"
    assert not Entitlement.objects.exists()


def test_a_purchase_of_another_subscription_is_a_bad_request(api, user, google):
    token = google.add_subscription(product_id="pro_monthly")

    error = assert_envelope(link(api, user, token, "team_yearly"), 400, "BAD_REQUEST")

    assert error["details"]["field"] == "subscription_id"
    assert not Entitlement.objects.exists()


@pytest.mark.parametrize(
    "state", ["SUBSCRIPTION_STATE_PENDING", "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED"]
)
def test_a_purchase_not_paid_for_is_not_linked(api, user, google, state):
    token = google.add_subscription(state=state, acknowledged=False)

    error = assert_envelope(link(api, user, token), 400, "BAD_REQUEST")

    assert error["details"]["reason"] == "pending"
    assert not Entitlement.objects.exists()
    assert google.acknowledgements == []


def test_an_expired_purchase_links_without_granting(api, user, google):
    token = google.add_subscription(
        state="SUBSCRIPTION_STATE_EXPIRED",
        expiry=datetime.now(UTC) - timedelta(days=3),
        auto_renew=False,
    )

    response = link(api, user, token)

    assert response.status_code == 200
    assert response.json()["plan"] == "free" and response.json()["status"] == "none"
    assert Entitlement.objects.get(external_id=token).status == "expired"


def test_a_play_server_error_is_an_external_service_error(api, user, google):
    token = google.add_subscription()
    google.fail(500)

    error = assert_envelope(link(api, user, token), 502, "EXTERNAL_SERVICE_ERROR")

    assert error["details"]["service"] == "google_play"
    assert "request_id" in error["details"]
    assert not Entitlement.objects.exists()


def test_a_refused_service_account_is_an_external_service_error(api, user, google):
    token = google.add_subscription()
    google.fail(400, path_prefix=f"/{google.instance}/token")

    error = assert_envelope(link(api, user, token), 502, "EXTERNAL_SERVICE_ERROR")

    assert error["details"]["reason"] == "credentials"


def test_a_failed_acknowledgement_undoes_the_link_for_a_retry(api, user, google):
    token = google.add_subscription(acknowledged=False)
    google.fail(
        503,
        path_prefix="/androidpublisher/v3/applications/com.example.groundwork/purchases/subscriptions/",
    )

    assert_envelope(link(api, user, token), 502, "EXTERNAL_SERVICE_ERROR")
    assert not Entitlement.objects.exists()

    assert link(api, user, token).status_code == 200
    assert Entitlement.objects.get(external_id=token).user == user


def test_play_not_answering_in_time_is_a_gateway_timeout(api, user, google, settings):
    token = google.add_subscription()
    settings.GOOGLE_PLAY_TIMEOUT_SECONDS = 1
    google.delay = 1.5

    error = assert_envelope(link(api, user, token), 504, "GATEWAY_TIMEOUT")

    assert error["details"]["service"] == "google_play"
    assert not Entitlement.objects.exists()


def test_play_not_reachable_is_an_external_service_error(api, user, google, settings):
    token = google.add_subscription()
    settings.GOOGLE_PLAY_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port

    assert_envelope(link(api, user, token), 502, "EXTERNAL_SERVICE_ERROR")


@pytest.mark.parametrize(
    "missing", ["GOOGLE_PLAY_PACKAGE_NAME", "GOOGLE_PLAY_SERVICE_ACCOUNT_INFO"]
)
def test_not_configured_is_service_unavailable(api, user, google, settings, missing):
    setattr(settings, missing, None if missing.endswith("INFO") else "")

    assert_envelope(link(api, user, "some-token"), 503, "SERVICE_UNAVAILABLE")

    assert google.requests == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"purchase_token": "t"},
        {"subscription_id": "pro_monthly"},
        {"purchase_token": "", "subscription_id": "pro_monthly"},
        {"purchase_token": "with space", "subscription_id": "pro_monthly"},
        {"purchase_token": "x" * 513, "subscription_id": "pro_monthly"},
        {"purchase_token": ["t"], "subscription_id": "pro_monthly"},
    ],
)
def test_invalid_bodies_are_validation_errors(api, user, google, body):
    response = api.as_user(user).post(LINK_URL, body)

    assert_envelope(response, 422, "VALIDATION_ERROR")
    assert google.requests == []


def test_linking_requires_a_signed_in_user(api, google):
    response = api.post(LINK_URL, {"purchase_token": "t", "subscription_id": "pro_monthly"})

    assert_envelope(response, 401, "AUTHENTICATION_ERROR")


def test_the_endpoint_is_documented(api):
    schema = api.get("/api/v1/openapi.json").json()

    operation = schema["paths"][LINK_URL]["post"]
    assert operation["operationId"] == "billing_iap_google_create"
    assert operation["tags"] == ["billing"]
    assert {"200", "400", "401", "409", "422", "502", "503", "504"} <= set(operation["responses"])
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/BillingStatusOutput")
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    required = schema["components"]["schemas"][body.rsplit("/", 1)[-1]]["required"]
    assert set(required) == {"purchase_token", "subscription_id"}
