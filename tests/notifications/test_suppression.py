"""The suppression list in the staff console: visible, searchable, clearable; once cleared, the
address gets email again. And a send already queued when its address is suppressed is not sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from notifications.models import EmailMessage, EmailSuppression
from notifications.services import email_send
from tests.notifications.esp import (
    WEBHOOK_SECRET,
    FakePostmark,
    basic_auth,
    post,
    postmark_bounce,
    postmark_complaint,
    use_provider,
)
from webhooks.models import WebhookEvent

SUPPRESSIONS = "/admin/notifications/emailsuppression/"
OUTBOX = "/admin/notifications/emailmessage/"

# Tasks are enqueued on commit: `send` and `bounce` run them, eagerly, as the commit would.
pytestmark = pytest.mark.django_db


@pytest.fixture
def postmark(settings: Any) -> Any:
    with FakePostmark() as fake:
        use_provider(settings, "postmark", fake, WEBHOOK_SECRET=WEBHOOK_SECRET)
        yield fake


@pytest.fixture
def send(django_capture_on_commit_callbacks: Any) -> Callable[[str], EmailMessage]:
    """`send(address)`: email_send, its task run on commit; the row as it is then."""

    def run(address: str) -> EmailMessage:
        with django_capture_on_commit_callbacks(execute=True):
            row = email_send(to=address, template="welcome", context={})
        row.refresh_from_db()
        return row

    return run


@pytest.fixture
def bounce(
    client: Any, send: Any, django_capture_on_commit_callbacks: Any
) -> Callable[..., EmailMessage]:
    """`bounce(address, complaint=False)`: send `address` an email and have the provider report
    it bounced (or complained about) through the webhook."""

    def run(address: str, *, complaint: bool = False) -> EmailMessage:
        row = send(address)
        make = postmark_complaint if complaint else postmark_bounce
        body = make(message_id=row.provider_message_id, email=address)
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, body, **basic_auth()).json() == {"status": "queued"}
        row.refresh_from_db()
        return row

    return run


def test_staff_see_and_search_the_suppression_list_and_the_delivery_status(
    client, staff, postmark, bounce
):
    bounce("ada@example.com")
    bounce("bo@example.com", complaint=True)

    listing = client.get(SUPPRESSIONS)
    found = client.get(SUPPRESSIONS, {"q": "ADA@example"})
    outbox = client.get(OUTBOX, {"delivery_status__exact": "bounced"})

    assert listing.status_code == 200
    page = listing.content.decode()
    assert "ada@example.com" in page and "bo@example.com" in page
    assert "Hard bounce" in page and "Spam complaint" in page
    searched = found.content.decode()
    assert "ada@example.com" in searched and "bo@example.com" not in searched
    assert outbox.status_code == 200
    rows = outbox.content.decode()
    assert "ada@example.com" in rows and "bo@example.com" not in rows
    assert "Bounced" in rows
    assert "Add email suppression" not in page  # written only by the provider's reports


def test_allow_sending_again_clears_the_address_and_the_next_email_is_sent(
    client, staff, postmark, bounce, send
):
    bounce("cy@example.com")
    bounce("di@example.com")
    entry = EmailSuppression.objects.get(address="cy@example.com")
    blocked = email_send(to="cy@example.com", template="welcome", context={})
    assert blocked.status == EmailMessage.Status.SUPPRESSED
    sends = len(postmark.calls("POST", "/email"))

    response = client.post(
        SUPPRESSIONS, {"action": "allow_sending_again", "_selected_action": [str(entry.pk)]}
    )

    assert response.status_code == 302
    assert list(EmailSuppression.objects.values_list("address", flat=True)) == ["di@example.com"]
    again = send("cy@example.com")
    assert again.status == EmailMessage.Status.SENT
    assert len(postmark.calls("POST", "/email")) == sends + 1
    blocked.refresh_from_db()
    assert blocked.status == EmailMessage.Status.SUPPRESSED  # the record of what happened stays
    still = email_send(to="di@example.com", template="welcome", context={})
    assert still.status == EmailMessage.Status.SUPPRESSED


def test_deleting_an_entry_in_the_admin_allows_sending_again(client, staff, postmark, bounce, send):
    bounce("ed@example.com")
    entry = EmailSuppression.objects.get()

    response = client.post(f"{SUPPRESSIONS}{entry.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not EmailSuppression.objects.exists()
    again = send("ed@example.com")
    assert again.status == EmailMessage.Status.SENT
    # The ledger still holds the event that suppressed it.
    assert WebhookEvent.objects.filter(event_type="bounced").count() == 1


def test_an_email_queued_before_the_bounce_arrived_is_not_sent(
    client, postmark, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = email_send(to="fi@example.com", template="welcome", context={})
    with django_capture_on_commit_callbacks(execute=False) as pending:
        queued = email_send(to="fi@example.com", template="welcome", context={})
    sent.refresh_from_db()
    body = postmark_bounce(message_id=sent.provider_message_id, email="fi@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, **basic_auth()).json() == {"status": "queued"}
    assert EmailSuppression.objects.filter(address="fi@example.com").exists()

    for callback in pending:  # the queued email's task runs only now
        callback()

    queued.refresh_from_db()
    assert queued.status == EmailMessage.Status.SUPPRESSED
    assert "fi@example.com is suppressed" in queued.error
    assert len(postmark.calls("POST", "/email")) == 1


def test_a_second_report_for_a_suppressed_address_keeps_the_first_reason(
    client, postmark, bounce, django_capture_on_commit_callbacks
):
    bounce("gu@example.com")
    bounce_row = EmailSuppression.objects.get()
    # Sending is blocked now, so the complaint comes for the earlier email.
    email = EmailMessage.objects.get(to="gu@example.com")
    body = postmark_complaint(message_id=email.provider_message_id, email="gu@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, **basic_auth()).json() == {"status": "queued"}

    entry = EmailSuppression.objects.get()
    assert (entry.pk, entry.reason) == (bounce_row.pk, EmailSuppression.Reason.BOUNCED)
    email.refresh_from_db()
    assert email.delivery_status == EmailMessage.DeliveryStatus.COMPLAINED


def test_erasing_a_user_scrubs_the_address_from_their_tracking_events(
    client, postmark, django_capture_on_commit_callbacks
):
    from accounts.services import user_erase
    from tests.notifications.conftest import new_user

    user = new_user(email="hu@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        row = email_send(to=user.email, template="welcome", context={}, user=user)
    row.refresh_from_db()
    body = postmark_bounce(message_id=row.provider_message_id, email="hu@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, **basic_auth()).json() == {"status": "queued"}
    assert WebhookEvent.objects.get().payload["recipient"] == "hu@example.com"

    user_erase(user_id=user.pk)

    event = WebhookEvent.objects.get()
    assert "recipient" not in event.payload and "description" not in event.payload
    assert event.payload["message_id"] == row.provider_message_id  # what a replay needs
    assert not EmailMessage.objects.filter(pk=row.pk).exists()
