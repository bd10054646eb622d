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


def test_deleting_a_user_in_the_admin_removes_their_files_and_objects(
    api, client, staff, user, other_user, media_root, django_capture_on_commit_callbacks
):
    upload_locally(api.as_user(user))
    upload_locally(api.as_user(other_user), content=b"not yours")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/accounts/user/{user.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not File.objects.filter(owner_id=user.pk).exists()
    assert [path.read_bytes() for path in stored_files(media_root)] == [b"not yours"]


def test_bulk_deleting_users_in_the_admin_removes_their_files_and_objects(
    api, client, staff, user, other_user, media_root, django_capture_on_commit_callbacks
):
    upload_locally(api.as_user(user))
    upload_locally(api.as_user(other_user))
    keeper = upload_locally(api.as_user(staff), content=b"staff's own")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/accounts/user/",
            {
                "action": "delete_selected",
                "_selected_action": [user.pk, other_user.pk],
                "post": "yes",
            },
        )

    assert response.status_code == 302
    assert [str(pk) for pk in File.objects.values_list("pk", flat=True)] == [keeper["id"]]
    assert [path.read_bytes() for path in stored_files(media_root)] == [b"staff's own"]
