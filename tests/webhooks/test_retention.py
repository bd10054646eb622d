"""How long the ledger keeps what: raw bodies until processing is over, failed events bounded,
and nothing at all of a provider that declared no allowlist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from tests.webhooks.provider import delivery, post_delivery
from webhooks.models import WebhookEvent
from webhooks.services import webhook_receive
from webhooks.tasks import purge_old_webhook_events

pytestmark = [pytest.mark.urls("tests.webhooks.urls"), pytest.mark.django_db(transaction=True)]


def aged(event_id: str, status: str, days: float) -> None:
    WebhookEvent.objects.create(
        provider="test",
        event_id=event_id,
        event_type="thing.happened",
        payload={},
        status=status,
        received_at=timezone.now() - timedelta(days=days),
    )


def test_an_event_that_ends_failed_keeps_its_payload_but_not_its_raw_body(client, handle):
    handle("thing.happened", failures=None)

    assert post_delivery(client, delivery("evt_failing", secret="s3cr3t")).json() == {
        "status": "queued"
    }

    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED
    assert event.raw_body == ""
    assert event.payload["data"] == {"secret": "s3cr3t"}  # the test provider keeps everything


def test_an_ignored_event_keeps_no_raw_body(client):
    assert post_delivery(client, delivery("evt_nobody")).json() == {"status": "ignored"}

    assert WebhookEvent.objects.get().raw_body == ""


def test_failed_events_are_purged_after_their_own_retention(settings):
    settings.WEBHOOK_RETENTION_DAYS = 90
    settings.WEBHOOK_FAILED_RETENTION_DAYS = 180
    failed = WebhookEvent.Status.FAILED
    aged("failed-old", failed, 181)
    aged("failed-young", failed, 179)
    aged("processed-old", WebhookEvent.Status.PROCESSED, 91)
    aged("waiting-old", WebhookEvent.Status.RECEIVED, 400)

    assert purge_old_webhook_events.delay().get() == 2

    assert sorted(WebhookEvent.objects.values_list("event_id", flat=True)) == [
        "failed-young",
        "waiting-old",
    ]


def test_failed_events_are_kept_two_years_by_default():
    assert purge_old_webhook_events.delay().get() == 0
    aged("failed-729", WebhookEvent.Status.FAILED, 729)
    aged("failed-731", WebhookEvent.Status.FAILED, 731)

    assert purge_old_webhook_events.delay().get() == 1
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == ["failed-729"]


def test_a_provider_without_an_allowlist_stores_nothing():
    with pytest.raises(ImproperlyConfigured, match="declare no payload allowlist"):
        webhook_receive(
            provider="undeclared",
            event_id="evt_1",
            event_type="thing.happened",
            payload={"password": "hunter2"},
            raw_body="{}",
        )

    assert not WebhookEvent.objects.exists()


def test_every_real_provider_declares_an_allowlist_and_a_subject():
    from webhooks.registry import payload_policy

    for provider in ("stripe", "apple", "google", "clerk", "supabase"):
        policy = payload_policy(provider)
        assert isinstance(policy.fields, dict) and policy.subject is not None, provider
