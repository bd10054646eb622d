"""The plan's storage limit (429 QUOTA_EXCEEDED): at POST /files/upload-url and at confirm."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time

from billing.services import entitlement_upsert
from config.errors import QuotaExceededError
from files.models import File
from files.services import file_confirm, file_upload_start
from tests.factories import UserFactory
from tests.files.factories import FileFactory
from tests.files.flow import (
    FILES_URL,
    UPLOAD_URL,
    bucket_object,
    confirm,
    error_of,
    send_form,
    send_form_over_http,
    start_upload,
    upload_locally,
)

pytestmark = pytest.mark.django_db

FREE_BYTES = 5000
PRO_BYTES = 20_000


@pytest.fixture(autouse=True)
def tiny_plans(settings) -> None:
    """Storage limits small enough to reach with a few requests."""
    settings.BILLING_PLANS = {
        **settings.BILLING_PLANS,
        "free": {**settings.BILLING_PLANS["free"], "storage_bytes": FREE_BYTES},
        "pro": {**settings.BILLING_PLANS["pro"], "storage_bytes": PRO_BYTES},
    }


def request_upload(client, size: int):
    return client.post(
        UPLOAD_URL, {"filename": "scan.pdf", "content_type": "application/pdf", "size": size}
    )


def test_an_upload_within_the_limit_is_accepted(api, user):
    FileFactory(owner=user, size=3000, declared_size=3000)

    response = request_upload(api.as_user(user), FREE_BYTES - 3000)

    assert response.status_code == 201


def test_an_upload_beyond_the_limit_is_refused_with_quota_exceeded(api, user):
    FileFactory(owner=user, size=3000, declared_size=3000)

    response = request_upload(api.as_user(user), FREE_BYTES - 3000 + 1)

    error = error_of(response, 429, "QUOTA_EXCEEDED")
    assert error["details"] == {
        "limit": "storage_bytes",
        "allowed": FREE_BYTES,
        "used": 3000,
        "pending": 0,
        "requested": FREE_BYTES - 3000 + 1,
    }
    assert "Retry-After" not in response
    assert File.objects.filter(owner=user).count() == 1


def test_pending_uploads_count_so_parallel_uploads_cannot_pass_the_limit(api, user):
    client = api.as_user(user)
    start_upload(client, size=2000)
    start_upload(client, size=2000)

    refused = request_upload(client, 1001)
    accepted = request_upload(client, 1000)

    error = error_of(refused, 429, "QUOTA_EXCEEDED")
    assert (error["details"]["used"], error["details"]["pending"]) == (0, 4000)
    assert accepted.status_code == 201


def test_pending_uploads_whose_url_expired_no_longer_count(api, user, settings):
    FileFactory(
        owner=user,
        status=File.Status.PENDING,
        size=None,
        declared_size=FREE_BYTES,
        created_at=timezone.now() - timedelta(seconds=settings.FILE_UPLOAD_URL_EXPIRES + 1),
    )

    assert request_upload(api.as_user(user), FREE_BYTES).status_code == 201


def test_failed_uploads_and_other_users_files_do_not_count(api, user, other_user):
    FileFactory(owner=user, status=File.Status.FAILED, size=None, declared_size=FREE_BYTES)
    FileFactory(owner=other_user, size=FREE_BYTES, declared_size=FREE_BYTES)

    assert request_upload(api.as_user(user), FREE_BYTES).status_code == 201


def test_confirmed_uploads_count_at_their_stored_size(api, user):
    client = api.as_user(user)
    upload_locally(client, b"x" * 4000)

    error = error_of(request_upload(client, 1001), 429, "QUOTA_EXCEEDED")

    assert (error["details"]["used"], error["details"]["pending"]) == (4000, 0)


def test_a_pro_entitlement_raises_the_limit(api, user):
    FileFactory(owner=user, size=FREE_BYTES, declared_size=FREE_BYTES)
    client = api.as_user(user)
    error_of(request_upload(client, 1), 429, "QUOTA_EXCEEDED")

    entitlement_upsert(
        user=user,
        source="stripe",
        external_id="sub_quota",
        product_id="price_pro_monthly",
        plan="pro",
        status="active",
    )

    assert request_upload(client, PRO_BYTES - FREE_BYTES).status_code == 201
    error = error_of(request_upload(client, 1), 429, "QUOTA_EXCEEDED")
    assert error["details"]["allowed"] == PRO_BYTES


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="needs PostgreSQL (row locks across connections)",
)
def test_simultaneous_uploads_cannot_pass_the_limit_together(transactional_db, tiny_plans):
    owner = UserFactory()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def announce() -> None:
        try:
            barrier.wait()
            file_upload_start(
                owner=owner, filename="scan.pdf", content_type="application/pdf", size=2000
            )
            outcomes.append("created")
        except QuotaExceededError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=announce) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created", "created", "refused", "refused"]
    assert File.objects.filter(owner=owner).count() == 2


# --- The limit checked again at confirm -------------------------------------------------------


class Backend:
    """One storage provider as the attack sees it: how a client sends the form, what is stored."""

    def __init__(self, name: str, *, media_root: Path, s3_client: Any = None) -> None:
        self.name = name
        self.media_root = media_root
        self.s3_client = s3_client

    def send(self, upload: dict[str, Any], content: bytes) -> int:
        """Upload `content` the way a client does with this provider; the HTTP status."""
        if self.name == "s3":  # a presigned POST, straight to the bucket
            status, _ = send_form_over_http(upload, content)
            return status
        return int(send_form(upload, content).status_code)  # the app's upload endpoint

    def stored(self, key: str) -> bytes | None:
        """The bytes stored under `key`, None when there is no object."""
        if self.s3_client is None:
            path = self.media_root / key
            return path.read_bytes() if path.exists() else None
        return bucket_object(self.s3_client, key)


@pytest.fixture(params=["local", "s3", "r2"])
def backend(request, settings, media_root) -> Backend:
    """Each storage provider in turn: local disk, S3 (moto), R2 (moto, uploads via the app)."""
    if request.param == "local":
        return Backend("local", media_root=media_root)
    request.getfixturevalue("s3_storage")
    settings.STORAGE_PROVIDER = request.param
    return Backend(
        request.param, media_root=media_root, s3_client=request.getfixturevalue("s3_client")
    )


def test_waiting_for_an_upload_url_to_expire_does_not_bypass_the_limit(
    api, user, settings, backend, django_capture_on_commit_callbacks
):
    """The attack: a pending upload stops counting when its URL expires, so a second one is
    accepted; both are uploaded and confirmed. The second confirmation must be refused."""
    first_bytes, second_bytes = b"1" * FREE_BYTES, b"2" * FREE_BYTES
    with freeze_time(timezone.now()) as clock:
        first = start_upload(api.as_user(user), size=FREE_BYTES)
        assert backend.send(first, first_bytes) == 204
        clock.tick(timedelta(seconds=settings.FILE_UPLOAD_URL_EXPIRES + 1))
        client = api.as_user(user)  # a fresh token, as the app would have by now
        second = start_upload(client, size=FREE_BYTES)  # the first no longer counts
        assert backend.send(second, second_bytes) == 204

        assert confirm(client, first["file_id"]).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            refused = confirm(client, second["file_id"])
        again = confirm(client, second["file_id"])
        listed = client.get(f"{FILES_URL}?status=uploaded").json()

    error = error_of(refused, 429, "QUOTA_EXCEEDED")
    assert error["details"] == {
        "id": second["file_id"],
        "limit": "storage_bytes",
        "allowed": FREE_BYTES,
        "used": FREE_BYTES,
        "requested": FREE_BYTES,
    }
    assert "Retry-After" not in refused
    assert error_of(again, 400, "BAD_REQUEST")["details"]["reason"] == "failed"
    first_file, second_file = (File.objects.get(pk=up["file_id"]) for up in (first, second))
    assert (first_file.status, second_file.status) == (File.Status.UPLOADED, File.Status.FAILED)
    assert backend.stored(first_file.key) == first_bytes
    assert backend.stored(second_file.key) is None
    assert [file["id"] for file in listed["items"]] == [first["file_id"]]


def test_confirm_counts_only_what_is_uploaded_so_parallel_uploads_within_the_limit_pass(api, user):
    client = api.as_user(user)
    uploads = [start_upload(client, size=2000) for _ in range(2)]
    for upload in uploads:
        assert send_form(upload, b"x" * 2000).status_code == 204

    confirmed = [confirm(client, upload["file_id"]) for upload in uploads]

    assert [response.status_code for response in confirmed] == [200, 200]


def test_confirm_checks_the_plan_at_confirm_time(api, user, media_root):
    client = api.as_user(user)
    upload = start_upload(client, size=3000)
    assert send_form(upload, b"x" * 3000).status_code == 204
    FileFactory(owner=user, size=3000, declared_size=3000)  # e.g. a data export stored meanwhile

    error = error_of(confirm(client, upload["file_id"]), 429, "QUOTA_EXCEEDED")

    assert (error["details"]["used"], error["details"]["requested"]) == (3000, 3000)
    assert File.objects.get(pk=upload["file_id"]).status == File.Status.FAILED


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="needs PostgreSQL (row locks across connections)",
)
def test_simultaneous_confirmations_cannot_pass_the_limit_together(transactional_db, tiny_plans):
    """Two stored uploads that each fit but not together, confirmed at the same moment."""
    owner = UserFactory()
    files = [
        FileFactory(owner=owner, status=File.Status.PENDING, size=None, declared_size=3000)
        for _ in range(2)
    ]
    for file in files:
        default_storage.save(file.key, ContentFile(b"x" * 3000))
    barrier = threading.Barrier(len(files))
    outcomes: list[str] = []

    def confirm_one(file_id: str) -> None:
        try:
            barrier.wait()
            file_confirm(owner=owner, file_id=file_id)
            outcomes.append("uploaded")
        except QuotaExceededError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm_one, args=(str(file.pk),)) for file in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused", "uploaded"]
    statuses = File.objects.filter(owner=owner).values_list("status", flat=True)
    assert sorted(statuses) == [File.Status.FAILED, File.Status.UPLOADED]
