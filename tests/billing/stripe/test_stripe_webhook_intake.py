"""POST /api/v1/public/webhooks/stripe: Stripe's signature, checked exactly as Stripe signs."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import NoReverseMatch, reverse

from billing.stripe.intake import verify_stripe_signature
from config.errors import BadRequestError
from tests.billing.conftest import WEBHOOK_URL, deliver
from tests.billing.stripe.fake_stripe import WEBHOOK_SECRET, sign
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


def event(event_id: str = "evt_signed", event_type: str = "balance.available") -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": {"id": "txn_1", "object": "balance"}},
    }


def body_of(data: dict) -> bytes:
    return json.dumps(data).encode()


def rejected(response, reason: str | None = None) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST"
    if reason is not None:
        assert error["details"]["reason"] == reason
    assert WebhookEvent.objects.count() == 0


def test_a_correctly_signed_event_is_stored_under_its_stripe_id(client, stripe_fake):
    body = body_of(event())

    response = client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": sign(body)},
    )

    assert response.status_code == 200
    assert response.json()["status"] in ("queued", "ignored")
    stored = WebhookEvent.objects.get()
    assert (stored.provider, stored.event_id, stored.event_type) == (
        "stripe",
        "evt_signed",
        "balance.available",
    )
    assert stored.raw_body == body.decode()


def test_an_unsigned_delivery_is_refused(client, stripe_fake):
    response = client.post(WEBHOOK_URL, data=body_of(event()), content_type="application/json")

    rejected(response, "timestamp")


def test_a_delivery_signed_with_another_secret_is_refused(client, stripe_fake):
    body = body_of(event())

    rejected(deliver(client, event(), signature=sign(body, secret="whsec_other")), "signature")


def test_a_tampered_body_is_refused(client, stripe_fake):
    signature = sign(body_of(event()))
    tampered = event() | {"type": "customer.subscription.deleted"}

    rejected(deliver(client, tampered, signature=signature), "signature")


@pytest.mark.parametrize("offset", [-305, 305, -86_400, 86_400])
def test_stale_and_future_timestamps_are_refused(client, stripe_fake, offset):
    body = body_of(event())
    signature = sign(body, timestamp=int(time.time()) + offset)

    rejected(deliver(client, event(), signature=signature), "timestamp")


@pytest.mark.parametrize("offset", [-290, 0, 290])
def test_timestamps_within_five_minutes_either_way_are_accepted(client, stripe_fake, offset):
    body = body_of(event())
    signature = sign(body, timestamp=int(time.time()) + offset)

    assert deliver(client, event(), signature=signature).status_code == 200


def test_any_one_of_several_v1_signatures_may_match(client, stripe_fake):
    body = body_of(event())
    good = sign(body)
    t, v1 = good.split(",")
    wrong = sign(body, secret="whsec_old").split(",")[1]
    header = f"{t},{wrong},v0=ignored,{v1},v1={'0' * 64}"

    assert deliver(client, event(), signature=header).status_code == 200


def test_several_v1_signatures_none_of_which_match_are_refused(client, stripe_fake):
    body = body_of(event())
    t = sign(body).split(",")[0]
    header = f"{t},v1={'0' * 64},{sign(body, secret='whsec_old').split(',')[1]}"

    rejected(deliver(client, event(), signature=header), "signature")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=abc",
        "t=,v1=abc",
        "t=12x,v1=abc",
        "t=1,t=2,v1=abc",
        "garbage",
        "t=١٢٣,v1=abc",
        "t=1,v1=\u00e9",
        "t=" + "9" * 5000 + ",v1=abc",
    ],
)
def test_malformed_signature_headers_are_refused(client, stripe_fake, header):
    rejected(deliver(client, event(), signature=header))


def test_a_signed_body_that_is_not_an_event_is_refused(client, stripe_fake):
    rejected(deliver(client, {"id": "cus_1", "object": "customer", "type": "x"}))
    rejected(deliver(client, {"id": "evt_1", "object": "event"}))


def test_the_debug_secret_header_of_dj_stripe_is_never_honoured(client, stripe_fake, settings):
    settings.DEBUG = True
    body = body_of(event())
    headers = {"X-Djstripe-Webhook-Secret": WEBHOOK_SECRET}

    unsigned = client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)
    wrongly_signed = deliver(client, event(), signature=sign(body, secret="whsec_other"), **headers)

    rejected(unsigned)
    rejected(wrongly_signed)


def test_dj_stripe_webhook_routes_are_not_mounted(client, stripe_fake):
    with pytest.raises(NoReverseMatch):
        reverse("djstripe:djstripe_webhook")
    for path in ("/stripe/webhook/", "/djstripe/webhook/", "/api/v1/public/webhook/"):
        assert client.post(path, data=b"{}", content_type="application/json").status_code == 404


def test_without_a_signing_secret_the_endpoint_is_503(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = deliver(client, event())

    assert response.status_code == 503
    assert response.json()["error"]["details"]["service"] == "stripe"
    assert WebhookEvent.objects.count() == 0


def test_a_redelivery_is_a_duplicate(client, stripe_fake):
    first = deliver(client, event("evt_twice"))
    second = deliver(client, event("evt_twice"))

    assert first.status_code == second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1


def test_verify_compares_against_stripes_own_construction():
    payload = b'{"id": "evt_1"}'
    header = sign(payload, secret="whsec_x", timestamp=1_700_000_000)

    verify_stripe_signature(
        payload=payload,
        header=header,
        secret="whsec_x",
        tolerance=300,
        now=1_700_000_300,
    )
    with pytest.raises(BadRequestError):
        verify_stripe_signature(
            payload=payload,
            header=header,
            secret="whsec_x",
            tolerance=300,
            now=1_700_000_301,
        )


def test_the_signature_matches_the_stripe_sdk():
    import stripe

    payload = body_of(event())
    header = sign(payload)

    # The SDK's own verifier accepts what the tests sign (so they sign exactly as Stripe does).
    assert stripe.WebhookSignature.verify_header(payload.decode(), header, WEBHOOK_SECRET, 300)


# --- What the ledger keeps ----------------------------------------------------------------------

CUSTOMER_DETAILS = {
    "email": "payer@example.com",
    "name": "Pat Payer",
    "phone": "+14155550142",
    "address": {"line1": "1 Private Road", "city": "Springfield", "country": "US"},
}


def test_only_ids_and_the_envelope_of_an_event_are_stored(client, stripe_fake, user):
    session = {
        "id": "cs_test_private",
        "object": "checkout.session",
        "customer": {"id": "cus_expanded", "object": "customer", **CUSTOMER_DETAILS},
        "subscription": "sub_123",
        "client_reference_id": user.pk,
        "customer_details": CUSTOMER_DETAILS,
        "shipping_details": {"address": CUSTOMER_DETAILS["address"], "name": "Pat Payer"},
    }
    delivered = event("evt_private", "checkout.session.completed") | {
        "data": {"object": session, "previous_attributes": {"customer_email": "old@example.com"}},
        "request": {"id": "req_1", "idempotency_key": "key-1"},
    }

    assert deliver(client, delivered).status_code == 200

    stored = WebhookEvent.objects.get()
    assert stored.payload == {
        "id": "evt_private",
        "object": "event",
        "type": "checkout.session.completed",
        "created": delivered["created"],
        "data": {
            "object": {
                "id": "cs_test_private",
                "object": "checkout.session",
                "customer": {"id": "cus_expanded"},
                "subscription": "sub_123",
                "client_reference_id": user.pk,
            }
        },
    }
    assert stored.subject == "cus_expanded"


def test_a_customer_event_is_about_that_customer(client, stripe_fake):
    customer = {"id": "cus_self", "object": "customer", **CUSTOMER_DETAILS}

    deliver(client, event("evt_customer", "customer.updated") | {"data": {"object": customer}})

    stored = WebhookEvent.objects.get()
    assert stored.subject == "cus_self"
    assert stored.payload["data"] == {"object": {"id": "cus_self", "object": "customer"}}


def test_erasing_a_user_empties_the_raw_bodies_of_their_customers_events(
    client, stripe_fake, user, api, django_capture_on_commit_callbacks
):
    from djstripe.models import Customer

    from billing.stripe.services import stripe_customer_refresh

    stripe_fake.add_customer("cus_erased", user_id=user.pk, email="payer@example.com")
    stripe_customer_refresh(customer_id="cus_erased")
    assert Customer.objects.get(id="cus_erased").subscriber == user
    invoice = {"id": "in_1", "object": "invoice", "customer": "cus_erased", **CUSTOMER_DETAILS}
    other = {"id": "in_2", "object": "invoice", "customer": "cus_other", **CUSTOMER_DETAILS}
    deliver(client, event("evt_mine", "invoice.created") | {"data": {"object": invoice}})
    deliver(client, event("evt_theirs", "invoice.created") | {"data": {"object": other}})
    assert "payer@example.com" in WebhookEvent.objects.get(event_id="evt_mine").raw_body

    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(user).delete("/api/v1/app/users/me").status_code == 204

    mine = WebhookEvent.objects.get(event_id="evt_mine")
    assert mine.raw_body == ""
    kept = {"id": "in_1", "object": "invoice", "customer": "cus_erased"}
    assert mine.payload["data"]["object"] == kept
    assert WebhookEvent.objects.get(event_id="evt_theirs").raw_body  # not theirs to erase
