"""Failed uploads are deleted after FILE_FAILED_RETENTION_DAYS by a daily task, rows and any
bytes left in storage; nothing else is touched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app as celery_app
from files.models import File
from files.services import files_purge_failed
from files.tasks import purge_failed_uploads
from tests.conftest import ApiClient
from tests.files.conftest import BUCKET
from tests.files.flow import (
    CONTENT,
    FILES_URL,
    confirm,
    send_form,
    send_form_over_http,
    start_upload,
    stored_files,
    upload_locally,
)

pytestmark = pytest.mark.django_db


def age(file_id: str, **delta: float) -> None:
    """Move a file's announcement into the past."""
    File.objects.filter(pk=file_id).update(created_at=timezone.now() - timedelta(**delta))


def failed_without_bytes(client: ApiClient) -> str:
    """An upload confirmed before anything was sent: failed, nothing stored."""
    upload = start_upload(client)
    response = confirm(client, upload["file_id"])
    assert response.status_code == 400
    assert response.json()["error"]["details"]["reason"] == "not_uploaded"
    return str(upload["file_id"])


def failed_with_bytes(client: ApiClient, settings: Any, *, over_http: bool = False) -> str:
    """An upload whose bytes were stored, then refused at confirmation (the limit was lowered
    in between). The refusal deletes the bytes once committed, which a test transaction never
    is: they stay behind, as when that deletion is lost."""
    upload = start_upload(client, size=100)
    if over_http:
        assert send_form_over_http(upload, CONTENT)[0] == 204
    else:
        assert send_form(upload, CONTENT).status_code == 204
    limit = settings.FILE_MAX_BYTES
    settings.FILE_MAX_BYTES = len(CONTENT) - 1
    response = confirm(client, upload["file_id"])
    settings.FILE_MAX_BYTES = limit
    assert response.status_code == 400
    assert response.json()["error"]["details"]["reason"] == "too_large"
    return str(upload["file_id"])


def test_old_failed_uploads_go_with_their_bytes_and_everything_else_stays(
    api, user, media_root, settings, django_capture_on_commit_callbacks
):
    client = api.as_user(user)
    old_with_bytes = failed_with_bytes(client, settings)
    old_without_bytes = failed_without_bytes(client)
    recent = failed_without_bytes(client)
    pending = start_upload(client)["file_id"]
    sent = start_upload(client)
    assert send_form(sent, b"pending bytes").status_code == 204
    uploaded = upload_locally(client, content=b"uploaded bytes")["id"]
    for file_id in (old_with_bytes, old_without_bytes):
        age(file_id, days=7, minutes=1)
    age(recent, days=6, hours=23)
    for file_id in (pending, uploaded):
        age(file_id, days=400)
    assert sorted(path.read_bytes() for path in stored_files(media_root)) == sorted(
        [CONTENT, b"pending bytes", b"uploaded bytes"]
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert purge_failed_uploads.delay().get() == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_failed_uploads.delay().get() == 0  # safe to run again

    assert sorted(path.read_bytes() for path in stored_files(media_root)) == sorted(
        [b"pending bytes", b"uploaded bytes"]
    )
    for gone in (old_with_bytes, old_without_bytes):
        assert client.get(f"{FILES_URL}/{gone}").status_code == 404
    listed = client.get(f"{FILES_URL}?limit=100").json()["items"]
    assert sorted((item["id"], item["status"]) for item in listed) == sorted(
        [
            (recent, "failed"),
            (pending, "pending"),
            (sent["file_id"], "pending"),
            (uploaded, "uploaded"),
        ]
    )


def test_the_retention_comes_from_settings(api, user, settings):
    settings.FILE_FAILED_RETENTION_DAYS = 2
    client = api.as_user(user)
    old, young = failed_without_bytes(client), failed_without_bytes(client)
    age(old, days=2, minutes=1)
    age(young, days=1, hours=23)

    assert purge_failed_uploads.delay().get() == 1

    assert [str(pk) for pk in File.objects.values_list("pk", flat=True)] == [young]


def test_large_purges_run_in_batches(api, user):
    client = api.as_user(user)
    for _ in range(5):
        age(failed_without_bytes(client), days=30)

    assert files_purge_failed(older_than=timedelta(days=7), batch_size=2) == 5

    assert not File.objects.exists()


def test_old_failed_uploads_are_removed_from_the_bucket(
    api, user, settings, s3_storage, s3_client, django_capture_on_commit_callbacks
):
    client = api.as_user(user)
    failed = failed_with_bytes(client, settings, over_http=True)
    key = File.objects.get(pk=failed).key
    listed = s3_client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert key in [item["Key"] for item in listed]
    age(failed, days=30)

    with django_capture_on_commit_callbacks(execute=True):
        assert purge_failed_uploads.delay().get() == 1

    listed = s3_client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert key not in [item["Key"] for item in listed]


def test_the_purge_runs_daily_under_beat():
    call_command("migrate", verbosity=0, interactive=False)

    row = PeriodicTask.objects.get(name="files-purge-failed-uploads")
    assert row.enabled and row.task == "files.tasks.purge_failed_uploads"
    assert (row.crontab.minute, row.crontab.hour, row.crontab.day_of_week) == ("45", "3", "*")
    assert str(row.crontab.timezone) == "UTC"
    assert row.task in celery_app.tasks
