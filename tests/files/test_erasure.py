"""DELETE /api/v1/app/users/me erases the user's files and their stored objects."""

from __future__ import annotations

import pytest

from files.models import File
from tests.files.flow import start_upload, stored_files, upload_locally

pytestmark = pytest.mark.django_db


def test_deleting_my_account_removes_my_files_and_objects_only(
    api, user, other_user, media_root, django_capture_on_commit_callbacks
):
    mine = [upload_locally(api.as_user(user)) for _ in range(2)]
    start_upload(api.as_user(user))  # still pending: its row goes too
    theirs = upload_locally(api.as_user(other_user), content=b"not yours")
    assert len(stored_files(media_root)) == 3

    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_user(user).delete("/api/v1/app/users/me")

    assert response.status_code == 204
    assert not File.objects.filter(owner=user).exists()
    assert not File.objects.filter(pk__in=[file["id"] for file in mine]).exists()
    assert File.objects.filter(pk=theirs["id"], status=File.Status.UPLOADED).exists()
    assert [path.read_bytes() for path in stored_files(media_root)] == [b"not yours"]
