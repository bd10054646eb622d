"""The Django admin as the staff console of the webhook ledger."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.webhooks.provider import PROVIDER
from webhooks.models import WebhookEvent

CHANGELIST = "/admin/webhooks/webhookevent/"

pytestmark = pytest.mark.django_db(transaction=True)


def make_event(event_id: str, **fields) -> WebhookEvent:
    defaults = {
        "provider": PROVIDER,
        "event_type": "thing.happened",
        "payload": {"id": event_id},
        "raw_body": f'{{"id": "{event_id}"}}',
    }
    return WebhookEvent.objects.create(event_id=event_id, **{**defaults, **fields})


def test_changelist_filters_by_provider_status_and_type_and_searches_by_event_id(client, staff):
    make_event("evt_paid", event_type="order.paid", status=WebhookEvent.Status.PROCESSED)
    make_event("evt_refund", event_type="order.refunded", status=WebhookEvent.Status.FAILED)
    make_event("evt_elsewhere", provider="acme")

    everything = client.get(CHANGELIST)
    failed = client.get(CHANGELIST, {"status__exact": "failed"})
    paid = client.get(CHANGELIST, {"event_type": "order.paid"})
    acme = client.get(CHANGELIST, {"provider": "acme"})
    found = client.get(CHANGELIST, {"q": "evt_refund"})

    assert {r.status_code for r in (everything, failed, paid, acme, found)} == {200}
    page = everything.content.decode()
    assert all(name in page for name in ("evt_paid", "evt_refund", "evt_elsewhere"))
    assert all(f"?provider={p}" in page for p in ("acme", PROVIDER))  # the filter sidebar
    assert "?event_type=order.refunded" in page
    assert b"evt_refund" in failed.content and b"evt_paid" not in failed.content
    assert b"evt_paid" in paid.content and b"evt_refund" not in paid.content
    assert b"evt_elsewhere" in acme.content and b"evt_paid" not in acme.content
    assert b"evt_refund" in found.content and b"evt_paid" not in found.content


def test_change_page_shows_the_payload_pretty_printed_and_escaped_read_only(client, staff):
    event = make_event(
        "evt_html",
        payload={"id": "evt_html", "note": "<script>alert(1)</script>", "data": {"n": 1}},
    )

    page = client.get(f"{CHANGELIST}{event.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "{\n  &quot;data&quot;: {\n    &quot;n&quot;: 1\n  }," in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert 'name="event_id"' not in html and 'name="_save"' not in html


def test_events_cannot_be_added_or_deleted(client, staff):
    event = make_event("evt_kept")

    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.get(f"{CHANGELIST}{event.pk}/delete/").status_code == 403
    response = client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert response.status_code == 302  # back to the list: there is no such action
    assert WebhookEvent.objects.filter(pk=event.pk).exists()


def test_process_again_reprocesses_a_failed_event(client, staff, handle, settings):
    settings.WEBHOOK_MAX_RETRIES = 0
    recorder = handle("thing.happened", failures=1)
    from webhooks.services import webhook_receive

    event, _ = webhook_receive(
        provider=PROVIDER,
        event_id="evt_again",
        event_type="thing.happened",
        payload={},
        raw_body="{}",
    )
    assert event.status == WebhookEvent.Status.FAILED

    response = client.post(
        CHANGELIST, {"action": "process_again", "_selected_action": [event.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "1 event(s) will be processed again." in response.content.decode()
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts == 2 == len(recorder.calls)
    assert event.last_error == "RuntimeError: handler failed on call 1"


def test_staff_without_the_change_permission_can_look_but_not_replay(client):
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user(
        "viewer@example.com", "a-long-staff-password-2", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(viewer)
    make_event("evt_seen")

    page = client.get(CHANGELIST)

    assert page.status_code == 200
    assert b"evt_seen" in page.content
    assert b"process_again" not in page.content


def test_change_page_shows_the_subject_and_never_the_raw_body(client, staff):
    event = make_event("evt_secret", subject="user_42", raw_body='{"password": "hunter2-secret"}')
    make_event("evt_other", subject="user_7")

    page = client.get(f"{CHANGELIST}{event.pk}/change/")
    found = client.get(CHANGELIST, {"q": "user_42"})

    html = page.content.decode()
    assert "user_42" in html
    assert "hunter2-secret" not in html
    assert "bytes, kept until processing is over (not shown)" in html
    assert b"evt_secret" in found.content and b"evt_other" not in found.content
