"""DELETE /api/v1/app/users/me, and deleting users in the admin, erase the user's files and their
stored objects."""

from __future__ import annotations

import pytest

from files.models import File
from tests.files.flow import (
    CONTENT,
    bucket_object,
    confirm,
    send_form_over_http,
    start_upload,
    stored_files,
    upload_locally,
)

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


def delete_in_admin(client, how: str, user_ids: list[str]):
    """Delete users through the admin: the user's delete page, or the list's bulk action."""
    if how == "delete view":
        [user_id] = user_ids
        return client.post(f"/admin/accounts/user/{user_id}/delete/", {"post": "yes"})
    return client.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": user_ids, "post": "yes"},
    )


@pytest.mark.usefixtures("s3_storage")
@pytest.mark.parametrize("how", ["delete view", "bulk action"])
def test_deleting_a_user_in_the_admin_removes_their_objects_from_the_bucket(
    api, client, staff, user, other_user, s3_client, how, django_capture_on_commit_callbacks
):
    """Confirmed uploads and bytes sent for a pending one alike, as DELETE /users/me does."""
    mine = api.as_user(user)
    uploaded = start_upload(mine)
    assert send_form_over_http(uploaded, CONTENT)[0] == 204
    assert confirm(mine, uploaded["file_id"]).status_code == 200
    pending = start_upload(mine)
    assert send_form_over_http(pending, CONTENT)[0] == 204
    theirs = start_upload(api.as_user(other_user))
    assert send_form_over_http(theirs, b"not yours")[0] == 204
    keys = [upload["fields"]["key"] for upload in (uploaded, pending, theirs)]
    assert all(bucket_object(s3_client, key) is not None for key in keys)

    with django_capture_on_commit_callbacks(execute=True):
        response = delete_in_admin(client, how, [user.pk])

    assert response.status_code == 302
    assert not File.objects.filter(owner_id=user.pk).exists()
    assert [bucket_object(s3_client, key) for key in keys] == [None, None, b"not yours"]
