"""POST /api/v1/public/webhooks/google: Pub/Sub push authentication and the push body."""

from __future__ import annotations

import time

import pytest
from freezegun import freeze_time

from billing.models import Entitlement
from tests.billing.googleplay import fake_google
from tests.billing.googleplay.conftest import push
from tests.billing.googleplay.fake_google import ROTATED_KID, keys, push_token
from webhooks.models import WebhookEvent

# Committed for real, so the eager processing task runs within the request (as in production).
pytestmark = pytest.mark.django_db(transaction=True)


def assert_envelope(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def purchase(google, user):
    """A purchase bought from `user`'s account (obfuscatedAccountId), and its notification."""
    token = google.add_subscription(account_id=user.pk)
    return token, fake_google.subscription_notification(token)


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = fake_google.push_token(email="someone-else@example.com").split(".")[1]
    assert claims != payload
    return f"{header}.{claims}.{signature}"


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("", "missing_token"),
        ("Bearer", "missing_token"),
        ("Basic dXNlcjpwYXNz", "missing_token"),
        ("Bearer not-a-jwt", "malformed"),
        ("Bearer a.b.c", "malformed"),
        (lambda: f"Bearer {push_token(audience='https://other.example.com/push')}", "invalid"),
        (lambda: f"Bearer {push_token(email='attacker@evil.iam.gserviceaccount.com')}", "email"),
        (lambda: f"Bearer {push_token(email_verified=False)}", "email"),
        (lambda: f"Bearer {push_token(issuer='https://evil.example.com')}", "issuer"),
        (lambda: f"Bearer {push_token(expires_in=3600, issued_ago=7200)}", "invalid"),
        (lambda: f"Bearer {push_token(issued_ago=-3600)}", "invalid"),
        (lambda: f"Bearer {push_token(key='foreign')}", "invalid"),
        (lambda: f"Bearer {push_token(key='foreign', kid='attacker-kid')}", "unknown_key"),
        (lambda: f"Bearer {tampered(push_token())}", "invalid"),
        (lambda: f"Bearer {push_token(algorithm='HS256')}", "algorithm"),
        (lambda: f"Bearer {push_token(kid='')}", "algorithm"),
        (lambda: f"Bearer {push_token(extra={'aud': ['x', 'y']})}", "invalid"),
        (lambda: f"Bearer {push_token(extra={'exp': 'tomorrow'})}", "invalid"),
    ],
    ids=[
        "missing",
        "empty-bearer",
        "basic",
        "not-a-jwt",
        "garbage-segments",
        "wrong-audience",
        "wrong-email",
        "email-not-verified",
        "wrong-issuer",
        "expired",
        "issued-in-the-future",
        "signed-by-a-foreign-key",
        "foreign-key-id",
        "tampered",
        "hs256",
        "no-kid",
        "audience-list",
        "exp-not-a-number",
    ],
)
def test_a_push_without_a_valid_google_token_is_refused_and_stores_nothing(
    api, user, google, purchase, authorization, reason
):
    _, notification = purchase
    header = authorization() if callable(authorization) else authorization

    response = push(api, notification, authorization=header or "")

    error = assert_envelope(response, 401, "AUTHENTICATION_ERROR")
    assert error["details"]["reason"] == reason
    assert response["WWW-Authenticate"] == "Bearer"
    assert not WebhookEvent.objects.exists()
    assert not Entitlement.objects.exists()
    assert google.purchase_reads == []


@pytest.mark.parametrize("issuer", ["accounts.google.com", "https://accounts.google.com"])
def test_both_forms_of_googles_issuer_are_accepted(api, google, purchase, issuer):
    _, notification = purchase

    response = push(api, notification, token=push_token(issuer=issuer))

    assert response.status_code == 200, response.content


def test_a_notification_for_another_app_is_a_bad_request(api, google, purchase):
    token, _ = purchase
    notification = fake_google.subscription_notification(token, package="com.example.other")

    error = assert_envelope(push(api, notification), 400, "BAD_REQUEST")

    assert error["details"]["field"] == "packageName"
    assert not WebhookEvent.objects.exists()
    assert google.purchase_reads == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"subscription": "projects/p/subscriptions/s"},
        {"message": "hello"},
        {"message": {"data": fake_google.encode_notification({"packageName": "x"})}},
        {"message": {"messageId": "1"}},
        {"message": {"messageId": "1", "data": "***not base64***"}},
        {"message": {"messageId": "1", "data": "bm90IGpzb24="}},  # "not json"
        {"message": {"messageId": "1", "data": "WzEsIDJd"}},  # [1, 2]
        {"message": {"messageId": 1, "data": "e30="}},
        {"message": {"messageId": "x" * 256, "data": None}},
    ],
    ids=[
        "not-json",
        "array",
        "no-message",
        "message-not-object",
        "no-message-id",
        "no-data",
        "data-not-base64",
        "data-not-json",
        "data-not-object",
        "message-id-not-string",
        "data-null",
    ],
)
def test_a_body_that_is_not_a_play_push_is_a_bad_request(api, google, body):
    assert_envelope(push(api, body=body), 400, "BAD_REQUEST")

    assert not WebhookEvent.objects.exists()


def test_a_subscription_notification_without_a_purchase_token_is_a_bad_request(api, google):
    notification = fake_google.subscription_notification("t")
    del notification["subscriptionNotification"]["purchaseToken"]

    error = assert_envelope(push(api, notification), 400, "BAD_REQUEST")

    assert error["details"]["field"] == "subscriptionNotification.purchaseToken"


def test_a_message_id_too_long_for_the_ledger_is_a_bad_request(api, google, purchase):
    _, notification = purchase

    assert_envelope(push(api, notification, message_id="9" * 256), 400, "BAD_REQUEST")


def test_the_test_notification_is_stored_and_acknowledged_with_no_effect(api, google):
    notification = {
        "version": "1.0",
        "packageName": fake_google.PACKAGE,
        "eventTimeMillis": str(int(time.time() * 1000)),
        "testNotification": {"version": "1.0"},
    }

    response = push(api, notification, message_id="test-message-1")

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    event = WebhookEvent.objects.get(provider="google", event_id="test-message-1")
    assert (event.event_type, event.status) == ("test", WebhookEvent.Status.IGNORED)
    assert event.payload["notification"] == notification
    assert (
        event.payload["subscription"] == "projects/groundwork-test/subscriptions/play-notifications"
    )
    assert google.purchase_reads == []
    assert not Entitlement.objects.exists()


def test_a_one_time_product_notification_is_stored_and_ignored(api, google):
    notification = {
        "version": "1.0",
        "packageName": fake_google.PACKAGE,
        "eventTimeMillis": "1700000000000",
        "oneTimeProductNotification": {
            "version": "1.0",
            "notificationType": 1,
            "purchaseToken": "one-time-token",
            "sku": "coins_100",
        },
    }

    response = push(api, notification)

    assert response.json() == {"status": "ignored"}
    assert WebhookEvent.objects.get().event_type == "one_time_product"
    assert google.purchase_reads == []


@pytest.mark.parametrize(
    "missing",
    [
        "GOOGLE_PLAY_PACKAGE_NAME",
        "GOOGLE_PLAY_SERVICE_ACCOUNT_INFO",
        "GOOGLE_PUBSUB_AUDIENCE",
        "GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL",
    ],
)
def test_not_configured_is_service_unavailable(api, google, purchase, settings, missing):
    _, notification = purchase
    setattr(settings, missing, None if missing.endswith("INFO") else "")

    error = assert_envelope(push(api, notification), 503, "SERVICE_UNAVAILABLE")

    assert error["details"]["service"] == "google"
    assert not WebhookEvent.objects.exists()
    assert google.requests == []


def test_unreachable_certificates_are_service_unavailable(api, google, purchase, settings):
    _, notification = purchase
    settings.GOOGLE_PUBSUB_CERTS_URL = "http://127.0.0.1:9/oauth2/v1/certs"

    error = assert_envelope(push(api, notification), 503, "SERVICE_UNAVAILABLE")

    assert error["details"]["service"] == "google_pubsub"
    assert not WebhookEvent.objects.exists()


def test_a_certificate_server_error_is_service_unavailable(api, google, purchase):
    _, notification = purchase
    google.fail(500, path_prefix=google.certs_path)

    assert_envelope(push(api, notification), 503, "SERVICE_UNAVAILABLE")

    assert not WebhookEvent.objects.exists()


def test_certificates_are_cached_for_their_max_age(api, google, purchase):
    _, notification = purchase

    for _ in range(3):
        assert push(api, notification, message_id=None).status_code == 200

    assert google.certificate_fetches == 1


def test_certificates_are_fetched_again_once_their_max_age_has_passed(api, google, purchase):
    _, notification = purchase
    google.cache_control = "public, max-age=0"

    assert push(api, notification).status_code == 200
    assert push(api, notification).status_code == 200

    assert google.certificate_fetches == 2


def test_an_unknown_key_id_right_after_a_download_is_refused_without_another(api, google, purchase):
    _, notification = purchase
    assert push(api, notification).status_code == 200
    google.certificates[ROTATED_KID] = keys()["rotated"].certificate_pem

    refused = push(api, notification, token=push_token(key="rotated", kid=ROTATED_KID))
    assert refused.status_code == 401
    assert google.certificate_fetches == 1


def test_unknown_key_ids_refetch_at_most_once_a_minute(api, google, purchase, settings):
    _, notification = purchase
    with freeze_time(tick=True) as clock:
        assert push(api, notification).status_code == 200
        google.certificates[ROTATED_KID] = keys()["rotated"].certificate_pem
        clock.tick(90)
        rotated = push_token(key="rotated", kid=ROTATED_KID)

        assert push(api, notification, token=rotated).status_code == 200
        assert google.certificate_fetches == 2

        for kid in ("made-up-1", "made-up-2", "made-up-3"):
            forged = push_token(key="foreign", kid=kid)
            assert push(api, notification, token=forged).status_code == 401
        assert google.certificate_fetches == 2
        assert push(api, notification, token=rotated).status_code == 200


def test_the_endpoint_is_documented(api):
    schema = api.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/public/webhooks/google"]["post"]
    assert operation["tags"] == ["webhooks"]
    assert {"200", "400", "401", "503"} <= set(operation["responses"])


def test_the_ledger_keeps_the_notification_but_not_the_pubsub_attributes(api, google, purchase):
    token, notification = purchase
    body = fake_google.push_body(notification | {"extra": {"note": "not read by anyone"}})
    body["message"]["attributes"] = {"forwarded-for": "198.51.100.7"}

    assert push(api, body=body).status_code == 200

    event = WebhookEvent.objects.get()
    assert event.subject == token
    assert "attributes" not in event.payload
    assert "extra" not in event.payload["notification"]
    assert event.payload["notification"]["subscriptionNotification"]["purchaseToken"] == token
