"""The webhook intake routes, every provider configured, fed bodies they cannot parse.

API.md §8: any body the server cannot parse (broken JSON, nesting too deep, bad encoding, the
wrong JSON type, numbers out of range), on any route including webhooks, is a 400 `BAD_REQUEST`
envelope, never a 500, and stores nothing. Each body is sent the way its provider would send
it, authenticated (Stripe and Svix signatures over the body, Supabase's bearer secret, a valid
Pub/Sub push token), and, where a provider nests signed or encoded data, inside a well-formed
outer delivery: an App Store notification signed by the configured chain whose claims are the
body, a notification whose signed transaction is, a Pub/Sub push whose base64 `data` is.

Three ways in: a table of named bodies on every route (readable failures), hypothesis-generated
bodies on every route, and schemathesis generating requests from the OpenAPI schema of the
webhook operations with every provider configured.
"""

from __future__ import annotations

import base64
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.tokens import mint_development_token
from tests.accounts.identity.conftest import CLERK_SECRET, SUPABASE_SECRET, svix_sign
from tests.billing.appstore.signing import (
    APP_ID,
    BUNDLE_ID,
    Chain,
    make_chain,
    notification_claims,
)
from tests.billing.googleplay import fake_google
from tests.billing.googleplay.fake_google import AUDIENCE, PACKAGE, PUSH_EMAIL, FakeGoogle
from tests.billing.stripe import fake_stripe
from tests.contract.in_process import wsgi_schema
from tests.factories import UserFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

BASE = "/api/v1/public/webhooks"
EMAIL_WEBHOOK_SECRET = "hooks:a-long-webhook-password"


@functools.cache
def chain() -> Chain:
    """One App Store test chain for the module (making keys is the slow part)."""
    return make_chain()


@pytest.fixture
def providers(settings: Any, tmp_path: Any) -> Iterator[None]:
    """Every webhook provider configured as its own tests configure it.

    Processing never runs here (the test's transaction never commits), so Stripe's API and
    Play's API are not called; Google's fake serves the push token certificates.
    """
    with FakeGoogle.running() as google:
        settings.STRIPE_SECRET_KEY = fake_stripe.SECRET_KEY
        settings.STRIPE_WEBHOOK_SECRET = fake_stripe.WEBHOOK_SECRET
        settings.APPLE_BUNDLE_ID = BUNDLE_ID
        settings.APPLE_APP_ID = APP_ID
        settings.APPLE_ENVIRONMENT = ["Sandbox"]
        settings.APPLE_ROOT_CERTIFICATES = [chain().write_root(tmp_path)]
        settings.GOOGLE_PLAY_PACKAGE_NAME = PACKAGE
        settings.GOOGLE_PLAY_SERVICE_ACCOUNT_INFO = google.service_account_info()
        settings.GOOGLE_PUBSUB_AUDIENCE = AUDIENCE
        settings.GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL = PUSH_EMAIL
        settings.GOOGLE_PUBSUB_CERTS_URL = google.certs_url
        settings.GOOGLE_PLAY_API_BASE = google.url
        settings.CLERK_WEBHOOK_SECRET = CLERK_SECRET
        settings.SUPABASE_WEBHOOK_SECRET = SUPABASE_SECRET
        # The email provider's tracking webhook: Postmark, behind basic auth.
        settings.EMAIL_PROVIDER = "postmark"
        settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": EMAIL_WEBHOOK_SECRET}
        yield


# --- How each provider delivers a body ---------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A POST to a webhook route: the body and the headers that authenticate it."""

    path: str
    body: bytes
    headers: dict[str, str]


def sign_jws(payload: bytes) -> str:
    """A JWS over exactly these payload bytes, signed by the App Store test chain."""
    return jwt.api_jws.encode(
        payload, chain().leaf_key, algorithm="ES256", headers={"x5c": chain().x5c(), "typ": None}
    )


def stripe(body: bytes) -> Delivery:
    return Delivery(f"{BASE}/stripe", body, {"Stripe-Signature": fake_stripe.sign(body)})


def clerk(body: bytes) -> Delivery:
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": svix_sign(body, msg_id=msg_id, timestamp=timestamp),
    }
    return Delivery(f"{BASE}/clerk", body, headers)


def supabase(body: bytes) -> Delivery:
    return Delivery(f"{BASE}/supabase", body, {"Authorization": f"Bearer {SUPABASE_SECRET}"})


def google(body: bytes) -> Delivery:
    return Delivery(f"{BASE}/google", body, {"Authorization": f"Bearer {fake_google.push_token()}"})


def google_data(body: bytes) -> Delivery:
    """A well-formed push whose message data is base64 of `body`."""
    push = fake_google.push_body(data=base64.b64encode(body).decode())
    return google(json.dumps(push).encode())


def email(body: bytes) -> Delivery:
    credentials = base64.b64encode(EMAIL_WEBHOOK_SECRET.encode()).decode()
    return Delivery(f"{BASE}/email", body, {"Authorization": f"Basic {credentials}"})


def apple(body: bytes) -> Delivery:
    return Delivery(f"{BASE}/apple", body, {})


def apple_signed_payload(body: bytes) -> Delivery:
    """A notification signed by the configured chain whose claims are `body`."""
    return apple(json.dumps({"signedPayload": sign_jws(body)}).encode())


def apple_signed_transaction(body: bytes) -> Delivery:
    """A signed notification whose signed transaction's claims are `body`."""
    claims = notification_claims(notification_type="DID_RENEW", signed_transaction=sign_jws(body))
    return apple(json.dumps({"signedPayload": chain().sign(claims)}).encode())


DELIVERIES: dict[str, Callable[[bytes], Delivery]] = {
    "stripe": stripe,
    "clerk": clerk,
    "supabase": supabase,
    "google": google,
    "google-data": google_data,
    "apple": apple,
    "apple-signed-payload": apple_signed_payload,
    "apple-signed-transaction": apple_signed_transaction,
    "email": email,
}


def send(delivery: Delivery) -> Any:
    # A client of its own per request: nothing carries over (cookies, credentials).
    return Client().generic(
        "POST",
        delivery.path,
        delivery.body,
        content_type="application/json",
        headers=delivery.headers,
    )


def assert_refused_and_nothing_stored(response: Any) -> None:
    assert response.status_code == 400, response.content[:500]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "BAD_REQUEST"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]
    assert not WebhookEvent.objects.exists()


# --- Named bodies, on every route --------------------------------------------------------------


def deep(levels: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * levels + closer * levels


UNPARSABLE: dict[str, bytes] = {
    "empty": b"",
    "broken": b'{"id": "evt_1", "type": ',
    "trailing garbage": b'{"id": "evt_1"} x',
    "single quotes": b"{'id': 'evt_1'}",
    "deep arrays": deep(100_000),
    "deep objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "deep inside an object": b'{"id": "evt_1", "type": "x", "data": ' + deep(3000) + b"}",
    "deeper than kept": b'{"id": "evt_1", "type": "x", "data": ' + deep(70) + b"}",
    "invalid utf-8": b'{"id": "\xff\xfe", "type": "x"}',
    "overlong utf-8": b'{"id": "\xc0\xaf", "type": "x"}',
    "utf-16": '{"id": "evt_1", "type": "x"}'.encode("utf-16"),
    "lone surrogate": b'{"id": "evt_1", "type": "\\ud800"}',
    "a list": b'[{"id": "evt_1", "type": "x"}]',
    "a string": b'"evt_1"',
    "a number": b"42",
    "null": b"null",
    "true": b"true",
    "nan": b'{"id": "evt_1", "type": "x", "n": NaN}',
    "infinity": b'{"id": "evt_1", "type": "x", "n": -Infinity}',
    "a float out of range": b'{"id": "evt_1", "type": "x", "n": 1e400}',
    "an integer of 5000 digits": b'{"id": "evt_1", "type": "x", "n": 1' + b"0" * 5000 + b"}",
    "a NUL byte": b'{"id": "evt_1", "type": "x"}\x00',
}


@pytest.mark.parametrize("body", UNPARSABLE.values(), ids=UNPARSABLE.keys())
@pytest.mark.parametrize("deliver", DELIVERIES.values(), ids=DELIVERIES.keys())
def test_an_unparsable_body_is_a_400_on_every_webhook_route(providers, deliver, body):
    assert_refused_and_nothing_stored(send(deliver(body)))


def test_a_deeply_nested_apple_notification_logs_no_traceback(providers, caplog):
    # The original report: RecursionError → 500 with a traceback on every request.
    response = send(apple(b'{"signedPayload": ' + deep(50_000) + b"}"))

    assert_refused_and_nothing_stored(response)
    assert "Traceback" not in caplog.text
    assert "RecursionError" not in caplog.text


# --- Generated bodies, on every route -----------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# Bodies that are not storable JSON objects: none may be stored.
MALFORMED_BODIES = st.one_of(
    # Random bytes (almost never JSON) and random text.
    st.binary(max_size=300),
    st.text(max_size=100).map(str.encode),
    # JSON of the wrong type at the top.
    JSON_VALUES.filter(lambda value: not isinstance(value, dict)).map(_dumps),
    # Valid JSON, then cut short or followed by garbage.
    st.dictionaries(st.text(max_size=8), JSON_VALUES, min_size=1, max_size=4)
    .map(_dumps)
    .flatmap(lambda body: st.integers(1, len(body) - 1).map(lambda cut: body[:cut])),
    st.tuples(JSON_VALUES.map(_dumps), st.binary(min_size=1, max_size=10)).map(
        lambda parts: parts[0] + b" \x00" + parts[1]
    ),
    # Nesting past any limit, of arrays or objects, at the top or inside an object.
    st.integers(65, 60_000).map(deep),
    st.integers(65, 5_000).map(lambda n: b'{"k":' * n + b"1" + b"}" * n),
    st.integers(65, 20_000).map(lambda n: b'{"id": "evt_1", "data": ' + deep(n) + b"}"),
    # Numbers no column holds, and constants JSON does not have.
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"]).map(
        lambda number: b'{"id": "evt_1", "type": "x", "n": ' + number + b"}"
    ),
    st.integers(4_400, 20_000).map(lambda digits: b'{"id": "evt_1", "n": 9' + b"9" * digits + b"}"),
    # Bytes that are not UTF-8, and escapes of lone surrogates.
    st.binary(min_size=1, max_size=20)
    .filter(lambda raw: not _is_utf8(raw))
    .map(lambda raw: b'{"id": "evt_1", "type": "' + raw + b'"}'),
    st.integers(0xD800, 0xDFFF).map(
        lambda code: b'{"id": "evt_1", "type": "\\u' + f"{code:04x}".encode() + b'"}'
    ),
)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("deliver", DELIVERIES.values(), ids=DELIVERIES.keys())
@given(body=MALFORMED_BODIES)
@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_malformed_bodies_are_400_and_store_nothing(providers, deliver, body):
    assert_refused_and_nothing_stored(send(deliver(body)))


# Well-formed JSON objects with the fields each provider reads, of any type: never a 500.
PROVIDER_KEYS = {
    "stripe": ["id", "object", "type", "data", "created"],
    "clerk": ["type", "data", "object", "timestamp"],
    "supabase": ["type", "schema", "table", "record", "old_record"],
    "google": ["message", "subscription"],
    "google-data": [
        "packageName",
        "version",
        "subscriptionNotification",
        "voidedPurchaseNotification",
        "testNotification",
    ],
    "apple": ["signedPayload"],
    "apple-signed-payload": ["notificationType", "notificationUUID", "subtype", "data"],
    "apple-signed-transaction": ["originalTransactionId", "productId", "type", "expiresDate"],
    "email": ["RecordType", "Type", "ID", "MessageID", "Email", "BouncedAt", "Metadata", "Tag"],
}
PLAUSIBLE = {
    "object": st.just("event"),
    "id": st.sampled_from(["evt_1", "user_1", "", "x" * 300]),
    "type": st.sampled_from(["INSERT", "user.created", "customer.updated", "DELETE"]),
    "schema": st.just("auth"),
    "table": st.just("users"),
    "packageName": st.just(PACKAGE),
    "RecordType": st.sampled_from(["Bounce", "Delivery", "SpamComplaint"]),
    "Type": st.sampled_from(["HardBounce", "SoftBounce", "SpamComplaint"]),
}


def odd_object(provider: str) -> st.SearchStrategy[bytes]:
    keys = PROVIDER_KEYS[provider]
    values = {key: PLAUSIBLE.get(key, st.nothing()) | JSON_VALUES for key in keys}
    return st.fixed_dictionaries({}, optional=values).map(_dumps)


@pytest.mark.parametrize("provider", DELIVERIES.keys())
@given(data=st.data())
@hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_odd_events_are_never_a_server_error(providers, provider, data):
    body = data.draw(odd_object(provider))

    response = send(DELIVERIES[provider](body))

    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert response.status_code == 400, response.content[:500]
        assert set(response.json()["error"]) == {"code", "message", "details"}


# --- The schema's own webhook operations, generated by schemathesis ---------------------------


@pytest.fixture
def webhook_schema(db: None, providers: None) -> Iterator[schemathesis.BaseSchema]:
    """The API schema, served with every webhook provider configured."""
    with wsgi_schema() as loaded:
        yield loaded


schema = schemathesis.pytest.from_fixture("webhook_schema").include(path_regex="/webhooks/")


@schema.parametrize()
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_webhook_requests_never_cause_a_server_error(case):
    user = UserFactory()
    token = mint_development_token(email=user.email, subject=user.pk)

    response = case.call(headers={"Authorization": f"Bearer {token}"})

    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if case.method == "POST":
        # Nothing generated is signed: a bad signature or payload, or a wrong bearer.
        assert response.status_code in (400, 401), response.text[:500]
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}
    assert not WebhookEvent.objects.exists()
