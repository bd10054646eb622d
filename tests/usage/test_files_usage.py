"""file_uploads, file_downloads and storage_bytes, through the real files flow."""

from __future__ import annotations

import pytest

from files.models import File
from tests.files.conftest import media_root  # noqa: F401  (local storage in a temporary folder)
from tests.files.factories import FileFactory
from tests.files.flow import CONTENT, confirm, start_upload, upload_locally
from tests.usage.conftest import flush, metrics

pytestmark = pytest.mark.django_db


def test_a_confirmed_upload_counts_once_and_its_bytes_are_stored(
    api, user, django_capture_on_commit_callbacks
):
    client = api.as_user(user)
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = upload_locally(client)
        again = confirm(client, uploaded["id"])  # idempotent: not a second upload
    assert again.status_code == 200

    usage = metrics(client)

    assert usage["file_uploads"] == 1
    assert usage["storage_bytes"] == len(CONTENT)


def test_downloads_count_each_issued_link(api, user, django_capture_on_commit_callbacks):
    client = api.as_user(user)
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = upload_locally(client)
    for _ in range(2):
        assert client.get(f"/api/v1/app/files/{uploaded['id']}/download-url").status_code == 200

    before = metrics(client)
    flush()
    after = metrics(client)

    assert before["file_downloads"] == after["file_downloads"] == 2
    assert after["file_uploads"] == 1


def test_refused_links_and_failed_confirms_are_not_counted(
    api, user, django_capture_on_commit_callbacks
):
    client = api.as_user(user)
    with django_capture_on_commit_callbacks(execute=True):
        pending = start_upload(client)
        assert confirm(client, pending["file_id"]).status_code == 400  # nothing was sent
    assert client.get(f"/api/v1/app/files/{pending['file_id']}/download-url").status_code == 400

    usage = metrics(client)

    assert (usage["file_uploads"], usage["file_downloads"]) == (0, 0)


def test_storage_bytes_is_what_the_quota_counts(api, user, other_user):
    FileFactory(owner=user, size=3000, declared_size=3000)
    FileFactory(owner=user, size=2000, declared_size=2000)
    FileFactory(owner=user, status=File.Status.PENDING, size=None, declared_size=9000)
    FileFactory(owner=other_user, size=7000, declared_size=7000)

    assert metrics(api.as_user(user))["storage_bytes"] == 5000
