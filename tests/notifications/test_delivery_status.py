"""Delivery status through the real intake path: the provider's tracking webhook, posted and
authenticated or signed as the provider sends it, verified by anymail, stored once in the webhook
ledger, processed, and applied to the outbox row and the suppression list."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from notifications.models import EmailMessage, EmailSuppression
from notifications.services import email_send
from tests.notifications.conftest import new_user
from tests.notifications.esp import (
    RESEND_SECRET,
    URL,
    WEBHOOK_SECRET,
    FakePostmark,
    FakeResend,
    FakeSendGrid,
    SendGridSigner,
    basic_auth,
    post,
    postmark_bounce,
    postmark_complaint,
    postmark_delivery,
    resend_event,
    sendgrid_event,
    sns_bounce,
    svix_headers,
    use_provider,
)
from webhooks.models import WebhookEvent

# The ledger (and the outbox) enqueue their tasks on commit: `send` and `deliver` run them, eagerly,
# as the commit would. One test runs with real commits, where the answer already says `processed`.
pytestmark = pytest.mark.django_db


@pytest.fixture
def postmark(settings: Any) -> Any:
    """EMAIL_PROVIDER=postmark, sending to a fake Postmark, its webhook behind basic auth."""
    with FakePostmark() as fake:
        use_provider(settings, "postmark", fake, WEBHOOK_SECRET=WEBHOOK_SECRET)
        yield fake


def sent_email(to: str) -> EmailMessage:
    """An email sent through the configured provider (its row, with the provider's id)."""
    row = email_send(to=to, template="welcome", context={"name": "Ada"}, user=new_user(email=to))
    row.refresh_from_db()
    assert row.status == EmailMessage.Status.SENT and row.provider_message_id
    return row


@pytest.fixture
def send(django_capture_on_commit_callbacks: Any) -> Callable[[str], EmailMessage]:
    """`send(address)`: an email sent through the configured provider, its task run on commit."""

    def run(to: str) -> EmailMessage:
        with django_capture_on_commit_callbacks(execute=True):
            row = email_send(to=to, template="welcome", context={})
        row.refresh_from_db()
        assert row.status == EmailMessage.Status.SENT and row.provider_message_id
        return row

    return run


@pytest.fixture
def deliver(client: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """`deliver(body, **headers)`: POST a delivery; the ledger's processing runs on commit."""

    def run(body: bytes, **headers: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, body, **headers)

    return run


@pytest.mark.django_db(transaction=True)
def test_a_hard_bounce_marks_the_email_and_blocks_the_next_send(client, postmark):
    row = sent_email("ada@example.com")
    assert len(postmark.calls("POST", "/email")) == 1

    response = post(
        client,
        postmark_bounce(
            message_id=row.provider_message_id, email="ada@example.com", bounce_id=4323372036
        ),
        **basic_auth(),
    )

    assert response.status_code == 200
    assert response.json() == {"status": "processed"}
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.event_type, event.status) == (
        "postmark",
        "4323372036",
        "bounced",
        WebhookEvent.Status.PROCESSED,
    )
    assert event.subject == row.provider_message_id
    row.refresh_from_db()
    assert row.status == EmailMessage.Status.SENT  # it was sent; the provider then bounced it
    assert row.delivery_status == EmailMessage.DeliveryStatus.BOUNCED
    assert "unknown user" in row.delivery_detail
    assert row.delivery_updated_at is not None and row.delivery_updated_at.isoformat().startswith(
        "2026-12-03T21:05:00"
    )
    suppression = EmailSuppression.objects.get()
    assert (suppression.address, suppression.reason, suppression.provider) == (
        "ada@example.com",
        EmailSuppression.Reason.BOUNCED,
        "postmark",
    )
    assert suppression.email_id == row.pk and suppression.webhook_event_id == event.pk

    # The next email to that address (in any case) is recorded, and nothing is sent.
    blocked = email_send(to="Ada@Example.com", template="welcome", context={})
    blocked.refresh_from_db()
    assert blocked.status == EmailMessage.Status.SUPPRESSED
    assert blocked.attempts == 0 and blocked.provider_message_id == ""
    assert "ada@example.com is suppressed (Hard bounce reported by postmark" in blocked.error
    assert len(postmark.calls("POST", "/email")) == 1
    # Other addresses still get theirs.
    assert email_send(to="bo@example.com", template="welcome", context={}).pk
    assert len(postmark.calls("POST", "/email")) == 2


def test_a_delivery_marks_the_email_delivered_and_a_late_deferral_does_not_undo_it(
    client, postmark, send, deliver
):
    row = send("cy@example.com")

    response = deliver(
        postmark_delivery(message_id=row.provider_message_id, email="cy@example.com"),
        **basic_auth(),
    )

    assert response.json() == {"status": "queued"}
    row.refresh_from_db()
    assert row.delivery_status == EmailMessage.DeliveryStatus.DELIVERED
    assert row.delivery_detail == "Test delivery webhook details"
    # Postmark gives deliveries no id: the event is stored under its digest.
    assert WebhookEvent.objects.get().event_id.startswith("sha256:")
    # A soft bounce reported after the delivery (out of order) is stored but changes nothing.
    soft = postmark_bounce(
        message_id=row.provider_message_id, email="cy@example.com", bounce_type="SoftBounce"
    )
    assert deliver(soft, **basic_auth()).json() == {"status": "queued"}
    row.refresh_from_db()
    assert row.delivery_status == EmailMessage.DeliveryStatus.DELIVERED
    assert not EmailSuppression.objects.exists()


def test_a_soft_bounce_is_recorded_and_does_not_suppress(client, postmark, send, deliver):
    row = send("di@example.com")
    soft = postmark_bounce(
        message_id=row.provider_message_id, email="di@example.com", bounce_type="SoftBounce"
    )

    assert deliver(soft, **basic_auth()).json() == {"status": "queued"}

    row.refresh_from_db()
    assert row.delivery_status == EmailMessage.DeliveryStatus.SOFT_BOUNCED
    assert not EmailSuppression.objects.exists()
    again = send("di@example.com")
    assert again.status == EmailMessage.Status.SENT
    assert len(postmark.calls("POST", "/email")) == 2


def test_a_complaint_marks_the_email_and_suppresses_the_address(client, postmark, send, deliver):
    row = send("ed@example.com")

    response = deliver(
        postmark_complaint(message_id=row.provider_message_id, email="ed@example.com"),
        **basic_auth(),
    )

    assert response.json() == {"status": "queued"}
    row.refresh_from_db()
    assert row.delivery_status == EmailMessage.DeliveryStatus.COMPLAINED
    suppression = EmailSuppression.objects.get()
    assert (suppression.address, suppression.reason) == (
        "ed@example.com",
        EmailSuppression.Reason.COMPLAINED,
    )
    blocked = email_send(to="ed@example.com", template="welcome", context={})
    assert blocked.status == EmailMessage.Status.SUPPRESSED
    assert len(postmark.calls("POST", "/email")) == 1


def test_a_redelivered_event_is_stored_once(client, postmark, send, deliver):
    row = send("fi@example.com")
    body = postmark_bounce(message_id=row.provider_message_id, email="fi@example.com")

    first = deliver(body, **basic_auth())
    second = deliver(body, **basic_auth())

    assert (first.json(), second.json()) == ({"status": "queued"}, {"status": "duplicate"})
    assert WebhookEvent.objects.count() == 1
    assert EmailSuppression.objects.count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic_auth("hooks:wrong-password"),
        basic_auth("someone:" + WEBHOOK_SECRET.partition(":")[2]),
        {"HTTP_AUTHORIZATION": "Bearer " + WEBHOOK_SECRET},
    ],
    ids=["none", "wrong-password", "wrong-user", "not-basic"],
)
def test_missing_or_wrong_credentials_are_refused_and_nothing_is_stored(
    client, postmark, headers, send
):
    row = send("gu@example.com")

    response = post(
        client,
        postmark_bounce(message_id=row.provider_message_id, email="gu@example.com"),
        **headers,
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    # SNS (SES) sends its credentials only after this challenge.
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert not WebhookEvent.objects.exists()
    assert not EmailSuppression.objects.exists()
    row.refresh_from_db()
    assert row.delivery_status == EmailMessage.DeliveryStatus.UNKNOWN


def test_a_body_that_is_not_a_tracking_event_is_refused(client, postmark, deliver):
    for body in (b"{not json", b'{"RecordType": "Bounce", "Type": "HardBounce"', b"[1, 2]"):
        response = deliver(body, **basic_auth())
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("provider_name", "anymail"),
    [
        ("console", {"WEBHOOK_SECRET": WEBHOOK_SECRET}),
        ("smtp", {"WEBHOOK_SECRET": WEBHOOK_SECRET}),
        ("postmark", {}),  # Postmark has no credential but basic auth
        ("ses", {}),
        ("resend", {}),
        ("sendgrid", {}),
    ],
)
def test_an_unconfigured_webhook_answers_503(client, settings, provider_name, anymail):
    settings.EMAIL_PROVIDER = provider_name
    settings.ANYMAIL = {
        **{
            key: value
            for key, value in settings.ANYMAIL.items()
            if key not in ("WEBHOOK_SECRET", "RESEND_SIGNING_SECRET")
        },
        **anymail,
    }

    response = post(
        client, postmark_delivery(message_id="x", email="a@example.com"), **basic_auth()
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert not WebhookEvent.objects.exists()


def test_resend_signed_events_mark_the_email_and_a_complaint_suppresses(
    client, settings, send, deliver
):
    with FakeResend() as resend:
        use_provider(settings, "resend", resend, RESEND_SIGNING_SECRET=RESEND_SECRET)
        row = send("ha@example.com")
    delivered = resend_event(
        event_type="email.delivered", email_id=row.provider_message_id, email="ha@example.com"
    )
    complained = resend_event(
        event_type="email.complained", email_id=row.provider_message_id, email="ha@example.com"
    )

    first = deliver(delivered, **svix_headers(delivered, message_id="msg_delivered"))
    row.refresh_from_db()
    assert row.delivery_status == EmailMessage.DeliveryStatus.DELIVERED
    second = deliver(complained, **svix_headers(complained, message_id="msg_complained"))

    assert (first.json(), second.json()) == ({"status": "queued"}, {"status": "queued"})
    assert sorted(WebhookEvent.objects.values_list("provider", "event_id", "event_type")) == [
        ("resend", "msg_complained", "complained"),
        ("resend", "msg_delivered", "delivered"),
    ]
    row.refresh_from_db()
    assert row.delivery_status == EmailMessage.DeliveryStatus.COMPLAINED
    assert EmailSuppression.objects.get().reason == EmailSuppression.Reason.COMPLAINED


def test_resend_hard_bounce_suppresses_and_a_soft_one_does_not(client, settings, deliver):
    use_provider(settings, "resend", RESEND_SIGNING_SECRET=RESEND_SECRET)
    EmailMessage.objects.bulk_create(
        [
            EmailMessage(
                to=address,
                template="welcome",
                subject="Welcome",
                text_body="Hi",
                status=EmailMessage.Status.SENT,
                provider_message_id=f"re_{address}",
            )
            for address in ("hard@example.com", "soft@example.com")
        ]
    )
    for address, kind in (("hard@example.com", "Permanent"), ("soft@example.com", "Transient")):
        bounce = {
            "message": "The recipient's email provider sent a hard bounce message.",
            "subType": "General",
            "type": kind,
        }
        body = resend_event(
            event_type="email.bounced", email_id=f"re_{address}", email=address, bounce=bounce
        )
        assert deliver(body, **svix_headers(body)).json() == {"status": "queued"}

    statuses = dict(EmailMessage.objects.values_list("to", "delivery_status"))
    assert statuses == {
        "hard@example.com": EmailMessage.DeliveryStatus.BOUNCED,
        "soft@example.com": EmailMessage.DeliveryStatus.SOFT_BOUNCED,
    }
    assert list(EmailSuppression.objects.values_list("address", flat=True)) == ["hard@example.com"]


def test_resend_refuses_a_bad_signature_and_stores_nothing(client, settings, deliver):
    use_provider(settings, "resend", RESEND_SIGNING_SECRET=RESEND_SECRET)
    body = resend_event(event_type="email.bounced", email_id="re_1", email="io@example.com")
    other_secret = "whsec_" + "b3RoZXItc2VjcmV0LW9mLTMyLWJ5dGVzLWxvbmchIQ=="
    tampered = body.replace(b"io@example.com", b"xx@example.com")

    for sent_body, headers in (
        (body, svix_headers(body, secret=other_secret)),
        (tampered, svix_headers(body, message_id="msg_same")),
        (body, {}),
    ):
        response = deliver(sent_body, **headers)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert not WebhookEvent.objects.exists()


def test_sendgrid_signed_batches_store_each_event_once(client, settings, send, deliver):
    signer = SendGridSigner()
    with FakeSendGrid() as sendgrid:
        use_provider(
            settings,
            "sendgrid",
            sendgrid,
            SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY=signer.verification_key,
        )
        kept = send("ja@example.com")
        bounced = send("ko@example.com")
    assert len(sendgrid.calls("POST", "/v3/mail/send")) == 2
    batch = [
        sendgrid_event(
            event="delivered", anymail_id=kept.provider_message_id, email="ja@example.com"
        ),
        sendgrid_event(
            event="bounce",
            anymail_id=bounced.provider_message_id,
            email="ko@example.com",
            type="bounce",
            reason="550 5.1.1 The email account that you tried to reach does not exist.",
            status="5.1.1",
        ),
        sendgrid_event(event="open", anymail_id=kept.provider_message_id, email="ja@example.com"),
    ]
    body = json.dumps(batch).encode()

    response = deliver(body, **signer.headers(body))
    again = deliver(body, **signer.headers(body))

    assert (response.json(), again.json()) == ({"status": "queued"}, {"status": "duplicate"})
    events = {event.event_type: event for event in WebhookEvent.objects.all()}
    assert sorted(events) == ["bounced", "delivered", "opened"]
    assert events["opened"].status == WebhookEvent.Status.IGNORED  # no handler wants opens
    assert {event.event_id for event in events.values()} == {item["sg_event_id"] for item in batch}
    kept.refresh_from_db()
    bounced.refresh_from_db()
    assert kept.delivery_status == EmailMessage.DeliveryStatus.DELIVERED
    assert bounced.delivery_status == EmailMessage.DeliveryStatus.BOUNCED
    assert "does not exist" in bounced.delivery_detail
    assert list(EmailSuppression.objects.values_list("address", flat=True)) == ["ko@example.com"]


def test_sendgrid_refuses_a_bad_signature(client, settings, deliver):
    signer, impostor = SendGridSigner(), SendGridSigner()
    use_provider(
        settings, "sendgrid", SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY=signer.verification_key
    )
    body = json.dumps(
        [sendgrid_event(event="bounce", anymail_id="a1", email="lu@example.com")]
    ).encode()

    for headers in (impostor.headers(body), {}):
        response = deliver(body, **headers)
        assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert not EmailSuppression.objects.exists()


def test_ses_bounces_arrive_through_sns_with_basic_auth(client, settings, deliver):
    use_provider(settings, "ses", WEBHOOK_SECRET=WEBHOOK_SECRET)
    row = EmailMessage.objects.create(
        to="mo@example.com",
        template="welcome",
        subject="Welcome",
        text_body="Hi",
        status=EmailMessage.Status.SENT,
        provider_message_id="0100017c-ses-message-id",
    )
    body, headers = sns_bounce(message_id=row.provider_message_id, email="mo@example.com")

    challenged = deliver(body, **headers)
    response = deliver(body, **headers, **basic_auth())

    assert challenged.status_code == 401  # SNS retries with the URL's credentials after it
    assert challenged.headers["WWW-Authenticate"].startswith("Basic ")
    assert response.json() == {"status": "queued"}
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id) == ("ses", headers["HTTP_X_AMZ_SNS_MESSAGE_ID"])
    row.refresh_from_db()
    assert row.delivery_status == EmailMessage.DeliveryStatus.BOUNCED
    assert row.delivery_detail == "Permanent: General"
    assert EmailSuppression.objects.get().address == "mo@example.com"


def test_ses_headers_must_match_the_sns_body(client, settings, deliver):
    use_provider(settings, "ses", WEBHOOK_SECRET=WEBHOOK_SECRET)
    body, headers = sns_bounce(message_id="m", email="nu@example.com")
    headers["HTTP_X_AMZ_SNS_MESSAGE_ID"] = "another-id"

    response = deliver(body, **headers, **basic_auth())

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_the_endpoint_is_in_the_api_schema(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"][URL]["post"]
    assert set(operation["responses"]) >= {"200", "400", "401", "503"}
