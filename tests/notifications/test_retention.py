"""The outbox's retention: the daily task deletes old rows only, sent ones sooner than failed or
bounced ones, and never a queued one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from notifications.models import EmailMessage, EmailSuppression
from notifications.services import emails_purge_old
from notifications.tasks import purge_old_emails

pytestmark = pytest.mark.django_db

Status = EmailMessage.Status
Delivery = EmailMessage.DeliveryStatus


def row(name: str, *, days: int, status: str, delivery: str = "") -> EmailMessage:
    message = EmailMessage.objects.create(
        to=f"{name}@example.com",
        template="welcome",
        subject=name,
        text_body="Hi",
        status=status,
        delivery_status=delivery,
    )
    EmailMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )
    return message


def subjects() -> set[str]:
    return set(EmailMessage.objects.values_list("subject", flat=True))


def test_the_daily_task_deletes_only_rows_past_their_retention():
    assert (settings.EMAIL_RETENTION_DAYS, settings.EMAIL_FAILED_RETENTION_DAYS) == (90, 365)
    for name, days, status, delivery in [
        ("sent-old", 91, Status.SENT, ""),
        ("delivered-old", 91, Status.SENT, Delivery.DELIVERED),
        ("soft-bounced-old", 91, Status.SENT, Delivery.SOFT_BOUNCED),
        ("suppressed-old", 91, Status.SUPPRESSED, ""),
        ("sent-recent", 89, Status.SENT, Delivery.DELIVERED),
        ("failed-kept", 91, Status.FAILED, ""),
        ("bounced-kept", 91, Status.SENT, Delivery.BOUNCED),
        ("complained-kept", 200, Status.SENT, Delivery.COMPLAINED),
        ("rejected-kept", 364, Status.SENT, Delivery.REJECTED),
        ("failed-old", 366, Status.FAILED, ""),
        ("bounced-old", 366, Status.SENT, Delivery.BOUNCED),
        ("queued-ancient", 1000, Status.QUEUED, ""),
    ]:
        row(name, days=days, status=status, delivery=delivery)

    deleted = purge_old_emails.delay().get()

    assert deleted == 6
    assert subjects() == {
        "sent-recent",
        "failed-kept",
        "bounced-kept",
        "complained-kept",
        "rejected-kept",
        "queued-ancient",
    }
    assert purge_old_emails.delay().get() == 0  # nothing more to do


def test_retention_follows_the_settings(settings):
    settings.EMAIL_RETENTION_DAYS = 10
    settings.EMAIL_FAILED_RETENTION_DAYS = 20
    row("sent-11", days=11, status=Status.SENT)
    row("sent-9", days=9, status=Status.SENT)
    row("failed-11", days=11, status=Status.FAILED)
    row("failed-21", days=21, status=Status.FAILED)

    assert purge_old_emails.delay().get() == 2

    assert subjects() == {"sent-9", "failed-11"}


def test_old_rows_go_in_batches_and_a_suppression_outlives_its_email():
    old = [row(f"sent-{index}", days=100, status=Status.SENT) for index in range(5)]
    EmailSuppression.objects.create(
        address="sent-0@example.com",
        reason=EmailSuppression.Reason.BOUNCED,
        suppressed_at=timezone.now(),
        email=old[0],
    )
    row("recent", days=1, status=Status.SENT)

    deleted = emails_purge_old(
        older_than=timedelta(days=90), failed_older_than=timedelta(days=365), batch_size=2
    )

    assert deleted == 5
    assert subjects() == {"recent"}
    entry = EmailSuppression.objects.get()
    assert entry.address == "sent-0@example.com" and entry.email_id is None


def test_the_task_is_scheduled_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-purge-old-emails"]
    assert entry["task"] == purge_old_emails.name
