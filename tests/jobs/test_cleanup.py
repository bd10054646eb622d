"""The weekly clean-ups: expired pending uploads (rows and stored bytes) and old webhook events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from files.models import File
from files.tasks import purge_expired_uploads
from tests.files.conftest import BUCKET
from tests.files.flow import (
    CONTENT,
    confirm,
    send_form,
    send_form_over_http,
    start_upload,
    stored_files,
    upload_locally,
)
from webhooks.models import WebhookEvent
from webhooks.services import webhook_purge_old
from webhooks.tasks import purge_old_webhook_events

pytestmark = pytest.mark.django_db


def age(model, pk, **delta) -> None:
    """Move a row's creation (and reception, for events) into the past."""
    moment = timezone.now() - timedelta(**delta)
    fields = {"created_at": moment}
    if model is WebhookEvent:
        fields["received_at"] = moment
    model.objects.filter(pk=pk).update(**fields)


def test_expired_pending_uploads_go_with_their_bytes_and_the_rest_stays(
    api, user, media_root, settings, django_capture_on_commit_callbacks
):
    client = api.as_user(user)
    # Announced 8 days and 15 minutes ago (URL valid 15 minutes, then 7 days of grace): purged.
    sent_unconfirmed = start_upload(client)
    assert send_form(sent_unconfirmed, CONTENT).status_code == 204
    never_sent = start_upload(client)
    # Not yet past the grace period, confirmed, or failed: kept.
    recent = start_upload(client)
    assert send_form(recent, b"recent bytes").status_code == 204
    confirmed = upload_locally(client, content=b"confirmed bytes")
    failed = start_upload(client)
    assert confirm(client, failed["file_id"]).status_code == 400
    long_ago = timedelta(days=8, minutes=16).total_seconds()
    for upload_id in (sent_unconfirmed["file_id"], never_sent["file_id"]):
        age(File, upload_id, seconds=long_ago)
    age(File, recent["file_id"], days=7, minutes=14)  # 7 days and 14 minutes: not yet
    for upload_id in (confirmed["id"], failed["file_id"]):
        age(File, upload_id, days=400)
    assert len(stored_files(media_root)) == 3

    with django_capture_on_commit_callbacks(execute=True):
        purged = purge_expired_uploads.delay().get()

    assert purged == 2
    remaining = sorted(str(pk) for pk in File.objects.values_list("pk", flat=True))
    assert remaining == sorted([recent["file_id"], confirmed["id"], failed["file_id"]])
    assert sorted(path.read_bytes() for path in stored_files(media_root)) == [
        b"confirmed bytes",
        b"recent bytes",
    ]
    # Confirming a purged upload now answers 404: the row is gone.
    assert confirm(client, sent_unconfirmed["file_id"]).status_code == 404


def test_the_grace_period_and_url_lifetime_come_from_settings(
    api, user, settings, django_capture_on_commit_callbacks
):
    settings.FILE_UPLOAD_URL_EXPIRES = 3600
    settings.FILE_PENDING_PURGE_DAYS = 1
    client = api.as_user(user)
    old, young = start_upload(client), start_upload(client)
    age(File, old["file_id"], days=1, minutes=61)
    age(File, young["file_id"], days=1, minutes=59)

    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired_uploads.delay().get() == 1

    assert list(File.objects.values_list("status", flat=True)) == ["pending"]
    assert str(File.objects.get().pk) == young["file_id"]


def test_expired_pending_uploads_are_removed_from_the_bucket(
    api, user, s3_storage, s3_client, django_capture_on_commit_callbacks
):
    client = api.as_user(user)
    upload = start_upload(client, size=100)
    status, _ = send_form_over_http(upload, CONTENT)
    assert status == 204
    key = File.objects.get(pk=upload["file_id"]).key
    kept = upload_locally_to_bucket(client)
    age(File, upload["file_id"], days=30)

    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired_uploads.delay().get() == 1

    listed = s3_client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert key not in [item["Key"] for item in listed]
    assert File.objects.get(pk=kept).key in [item["Key"] for item in listed]


def upload_locally_to_bucket(client) -> str:
    """A whole upload into the bucket, confirmed; its id."""
    upload = start_upload(client, size=100)
    status, _ = send_form_over_http(upload, CONTENT)
    assert status == 204
    assert confirm(client, upload["file_id"]).status_code == 200
    return str(upload["file_id"])


def event(status: str, *, days_old: float, name: str) -> WebhookEvent:
    """A stored event of `status`, received `days_old` days ago."""
    created = WebhookEvent.objects.create(
        provider="jobs-test",
        event_id=name,
        event_type="test.event",
        payload={},
        raw_body="{}",
        status=status,
    )
    age(WebhookEvent, created.pk, days=days_old)
    return created


def test_old_processed_and_ignored_events_are_purged_failed_and_recent_ones_kept():
    status = WebhookEvent.Status
    for name, state, days_old in (
        ("old-processed", status.PROCESSED, 91),
        ("old-ignored", status.IGNORED, 365),
        ("old-failed", status.FAILED, 365),
        ("old-received", status.RECEIVED, 365),
        ("old-processing", status.PROCESSING, 365),
        ("recent-processed", status.PROCESSED, 89),
        ("recent-ignored", status.IGNORED, 1),
    ):
        event(state, days_old=days_old, name=name)

    assert purge_old_webhook_events.delay().get() == 2
    assert purge_old_webhook_events.delay().get() == 0  # safe to run again

    assert sorted(WebhookEvent.objects.values_list("event_id", flat=True)) == [
        "old-failed",
        "old-processing",
        "old-received",
        "recent-ignored",
        "recent-processed",
    ]


def test_retention_comes_from_settings(settings):
    settings.WEBHOOK_RETENTION_DAYS = 10
    event(WebhookEvent.Status.PROCESSED, days_old=11, name="old")
    event(WebhookEvent.Status.PROCESSED, days_old=9, name="young")

    assert purge_old_webhook_events.delay().get() == 1

    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == ["young"]


def test_large_purges_run_in_batches():
    for number in range(5):
        event(WebhookEvent.Status.PROCESSED, days_old=100, name=f"old-{number}")

    assert webhook_purge_old(older_than=timedelta(days=90), batch_size=2) == 5
    assert not WebhookEvent.objects.exists()
