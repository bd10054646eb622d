"""The Django admin as staff console for files."""

from __future__ import annotations

import pytest

from files.models import File
from tests.factories import UserFactory
from tests.files.factories import FileFactory
from tests.files.flow import stored_files, upload_locally

CHANGELIST = "/admin/files/file/"

pytestmark = pytest.mark.django_db


def test_changelist_searches_by_owner_email_and_filters_by_status(client, staff):
    ada = UserFactory(email="ada@example.com")
    FileFactory(owner=ada, filename="ada-notes.pdf")
    FileFactory(owner=UserFactory(), filename="pending-scan.png", status=File.Status.PENDING)

    found = client.get(CHANGELIST, {"q": "ada@example"})
    pending = client.get(CHANGELIST, {"status__exact": "pending"})
    by_type = client.get(CHANGELIST, {"content_type": "application/pdf"})

    assert found.status_code == pending.status_code == by_type.status_code == 200
    assert b"ada-notes.pdf" in found.content and b"pending-scan.png" not in found.content
    assert b"pending-scan.png" in pending.content and b"ada-notes.pdf" not in pending.content
    assert b"ada-notes.pdf" in by_type.content


def test_change_page_shows_the_key_read_only_and_cannot_add(client, staff):
    file = FileFactory(owner=UserFactory())

    page = client.get(f"{CHANGELIST}{file.pk}/change/")

    assert page.status_code == 200
    assert file.key.encode() in page.content
    assert b'name="key"' not in page.content
    assert b'name="filename"' in page.content
    assert client.get(f"{CHANGELIST}add/").status_code == 403


def test_deleting_in_the_admin_removes_the_stored_object(
    api, client, staff, user, media_root, django_capture_on_commit_callbacks
):
    file = upload_locally(api.as_user(user))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST,
            {"action": "delete_selected", "_selected_action": [file["id"]], "post": "yes"},
        )

    assert response.status_code == 302
    assert not File.objects.filter(pk=file["id"]).exists()
    assert stored_files(media_root) == []
