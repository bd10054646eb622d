"""The intake endpoint: verify on the raw body, store once, acknowledge; errors store nothing."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.webhooks.provider import BEARER_PATH, PATH, SECRET, delivery, post_delivery, sign
from webhooks.models import WebhookEvent
from webhooks.registry import register

# Transactional: the processing task is enqueued on commit, and runs eagerly right then.
pytestmark = [pytest.mark.urls("tests.webhooks.urls"), pytest.mark.django_db(transaction=True)]


def stored_raw_body(pk: uuid.UUID) -> str:
    """The raw body of the stored row, as the database holds it now."""
    return WebhookEvent.objects.values_list("raw_body", flat=True).get(pk=pk)


def test_a_signed_event_is_stored_processed_once_and_acknowledged(client, handle):
    recorder = handle("thing.happened")
    body = delivery("evt_1", "thing.happened", amount=42)

    response = post_delivery(client, body)

    assert response.status_code == 200
    assert response.json() == {"status": "processed"}
    assert recorder.calls == ["evt_1"]
    assert recorder.traces() == ["webhook|evt_1|1"]
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.event_type) == ("test", "evt_1", "thing.happened")
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.payload == json.loads(body)
    assert event.raw_body == ""  # kept only until processing is over
    assert event.attempts == 1
    assert event.last_error == ""
    assert event.processed_at is not None and event.processed_at >= event.received_at
    assert event.next_retry_at is None


def test_the_raw_body_is_kept_byte_for_byte_until_processing_is_over(client):
    seen: list[str] = []
    unregister = register(
        "test", "thing.happened", lambda event: seen.append(stored_raw_body(event.pk))
    )
    # Whitespace, key order and escapes a re-serialisation would change.
    body = b'{ "type":"thing.happened",  "id":"evt_raw", "note":"caf\\u00e9 \xe2\x82\xac"}\n'

    try:
        assert post_delivery(client, body).json() == {"status": "processed"}
    finally:
        unregister()

    assert [text.encode() for text in seen] == [body]  # what the handler's row held
    event = WebhookEvent.objects.get()
    assert event.raw_body == ""
    assert event.payload["note"] == "caf\u00e9 \u20ac"


@pytest.mark.parametrize(
    ("body", "signature", "message"),
    [
        (delivery("evt_1"), "sha256=" + "0" * 64, "Invalid webhook signature"),
        (delivery("evt_1"), "", "Invalid webhook signature"),
        (delivery("evt_1"), sign(delivery("evt_1"), "another-secret"), "Invalid webhook signature"),
        # Signed, then changed on the way.
        (
            delivery("evt_1", amount=100),
            sign(delivery("evt_1", amount=1)),
            "Invalid webhook signature",
        ),
        (b'{"id": "evt_1", "type": ', None, "The webhook body is not valid JSON"),
        (b"", None, "The webhook body is not valid JSON"),
        (b'["evt_1"]', None, "The webhook body must be a JSON object"),
        (b'{"id": "evt_1"}', None, "The event has no id or type"),
        (b'{"id": "", "type": "thing.happened"}', None, "The event id must be 1 to 255 characters"),
        (delivery("e" * 256), None, "The event id must be 1 to 255 characters"),
        (b'{"id": "evt_1", "type": "caf\xe9"}', None, "The webhook body is not valid JSON"),
    ],
    ids=[
        "wrong-signature",
        "empty-signature",
        "other-secret",
        "tampered-body",
        "malformed-json",
        "empty-body",
        "not-an-object",
        "no-type",
        "empty-id",
        "id-too-long",
        "not-utf8",
    ],
)
def test_unverifiable_deliveries_get_400_and_store_nothing(
    client, handle, body, signature, message
):
    recorder = handle("*")

    response = post_delivery(client, body, signature=signature)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("BAD_REQUEST", message)
    assert WebhookEvent.objects.count() == 0
    assert recorder.calls == []


def test_a_missing_signature_header_is_a_400(client):
    response = client.post(PATH, data=delivery("evt_1"), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-secret", SECRET])
def test_a_missing_or_wrong_bearer_token_is_a_401_and_stores_nothing(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = client.post(
        BEARER_PATH, data=delivery("evt_1"), content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    assert response["WWW-Authenticate"] == "Bearer"
    assert WebhookEvent.objects.count() == 0


def test_the_right_bearer_token_is_accepted(client):
    headers = {"Authorization": f"Bearer {SECRET}"}

    response = client.post(
        BEARER_PATH, data=delivery("evt_1"), content_type="application/json", headers=headers
    )

    assert response.json() == {"status": "ignored"}
    assert WebhookEvent.objects.get().event_type == "bearer.event"


def test_an_unconfigured_provider_answers_503_before_looking_at_the_delivery(
    client, settings, handle
):
    settings.TEST_WEBHOOK_SECRET = ""
    recorder = handle("*")

    response = post_delivery(client, delivery("evt_1"), signature=sign(delivery("evt_1"), ""))

    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "SERVICE_UNAVAILABLE",
        "message": "test webhooks are not configured",
        "details": {"service": "test", "request_id": response["X-Request-ID"]},
    }
    assert WebhookEvent.objects.count() == 0
    assert recorder.calls == []


def test_a_redelivery_is_a_duplicate_and_is_not_handled_again(client, handle):
    recorder = handle("thing.happened")
    body = delivery("evt_twice")

    first = post_delivery(client, body)
    second = post_delivery(client, body)

    assert first.json() == {"status": "processed"}
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1
    assert recorder.calls == ["evt_twice"]


def test_the_same_event_id_from_another_provider_is_another_event(client, handle):
    from webhooks.services import webhook_receive

    handle("thing.happened")
    other, created = webhook_receive(
        provider="other", event_id="evt_shared", event_type="x", payload={}, raw_body="{}"
    )

    response = post_delivery(client, delivery("evt_shared"))

    assert created and other.status == WebhookEvent.Status.IGNORED
    assert response.json() == {"status": "processed"}
    assert WebhookEvent.objects.count() == 2


def test_an_event_type_nobody_handles_is_stored_and_ignored(client, handle):
    handle("thing.happened")

    response = post_delivery(client, delivery("evt_odd", "odd.thing"))

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.IGNORED
    assert event.processed_at is not None


def test_a_catch_all_handler_takes_types_without_their_own(client, handle):
    specific = handle("thing.happened")
    catch_all = handle("*")

    post_delivery(client, delivery("evt_a", "thing.happened"))
    post_delivery(client, delivery("evt_b", "odd.thing"))

    assert specific.calls == ["evt_a"]
    assert catch_all.calls == ["evt_b"]


def test_a_failing_handler_still_gets_200_queued_and_the_event_is_kept(client, handle, caplog):
    recorder = handle("thing.happened", failures=None)

    response = post_delivery(client, delivery("evt_broken"))

    assert response.status_code == 200
    assert response.json() == {"status": "queued"}
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED
    assert event.attempts == len(recorder.calls) == 4  # the first try and 3 retries
    assert event.last_error == "RuntimeError: handler failed on call 4"
    assert recorder.traces() == []
    assert "webhook handler failed (attempt 4, giving up)" in caplog.text


def test_payload_nul_characters_are_stored(client):
    seen: list[str] = []
    unregister = register(
        "test", "thing.happened", lambda event: seen.append(stored_raw_body(event.pk))
    )
    body = b'{"id": "evt_nul", "type": "thing.happened", "name": "a\\u0000b"}'

    try:
        assert post_delivery(client, body).json() == {"status": "processed"}
    finally:
        unregister()

    assert [text.encode() for text in seen] == [body]
    event = WebhookEvent.objects.get()
    assert event.payload["name"] == "a\ufffdb"


def test_only_post_is_allowed(client):
    response = client.get(PATH)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = delivery("evt_big", padding="x" * 2000)

    response = post_delivery(client, body)

    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0
