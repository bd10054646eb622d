"""The plan's storage limit on POST /files/upload-url (429 QUOTA_EXCEEDED)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing.services import entitlement_upsert
from config.errors import QuotaExceededError
from files.models import File
from files.services import file_upload_start
from tests.factories import UserFactory
from tests.files.factories import FileFactory
from tests.files.flow import UPLOAD_URL, error_of, start_upload, upload_locally

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
