"""/api/v1/app/files: validation, ownership, states, listing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from files.models import File
from files.selectors import file_storage_used
from tests.files.factories import FileFactory
from tests.files.flow import (
    CONFIRM_URL,
    CONTENT,
    FILES_URL,
    UPLOAD_URL,
    confirm,
    error_of,
    send_form,
    start_upload,
    stored_files,
    upload_locally,
)

pytestmark = pytest.mark.django_db

VALID = {"filename": "report.pdf", "content_type": "application/pdf", "size": 1000}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"size": 100 * 1024 * 1024 + 1}, "size"),
        ({"size": 0}, "size"),
        ({"size": -5}, "size"),
        ({"size": "lots"}, "size"),
        ({"filename": None}, "filename"),
        ({"filename": ""}, "filename"),
        ({"filename": "   "}, "filename"),
        ({"filename": "x" * 256}, "filename"),
        ({"filename": "../../"}, "filename"),
        ({"filename": "\x00\x01"}, "filename"),
        ({"content_type": "text/html"}, "content_type"),
        ({"content_type": "image/svg+xml"}, "content_type"),
        ({"content_type": "application/x-msdownload"}, "content_type"),
        ({"content_type": "text/plain; charset=utf-8"}, "content_type"),
        ({"content_type": ""}, "content_type"),
    ],
)
def test_upload_url_rejects_bad_input_with_422(api, user, changes, field):
    body = {key: value for key, value in {**VALID, **changes}.items() if value is not None}

    response = api.as_user(user).post(UPLOAD_URL, body)

    error = error_of(response, 422, "VALIDATION_ERROR")
    assert error["details"]["field"] == field
    assert File.objects.count() == 0


def test_size_limit_follows_the_setting(api, user, settings):
    settings.FILE_MAX_BYTES = 5000
    client = api.as_user(user)

    assert client.post(UPLOAD_URL, {**VALID, "size": 5000}).status_code == 201
    error = error_of(client.post(UPLOAD_URL, {**VALID, "size": 5001}), 422, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["message"] == "Files may be at most 5000 bytes."


def test_allowed_types_follow_the_setting_and_ignore_case(api, user, settings):
    settings.FILE_ALLOWED_CONTENT_TYPES = ["application/json"]
    client = api.as_user(user)

    accepted = client.post(UPLOAD_URL, {**VALID, "content_type": "Application/JSON"})
    refused = client.post(UPLOAD_URL, VALID)

    assert accepted.status_code == 201
    assert accepted.json()["fields"]["Content-Type"] == "application/json"
    error_of(refused, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/var/www/index.pdf", "index.pdf"),
        ("in\x07voi\r\nce\t.pdf", "invoice.pdf"),
        ("photo\u202egpj.exe", "photogpj.exe"),
    ],
)
def test_path_traversal_and_control_characters_are_removed(api, user, raw, stored):
    upload = start_upload(api.as_user(user), filename=raw)

    file = File.objects.get(pk=upload["file_id"])
    assert file.filename == stored
    assert file.key.startswith("uploads/")
    assert ".." not in file.key and stored not in file.key and "\\" not in file.key
    assert file.key.rsplit("/", 1)[-1] == upload["file_id"]


def test_keys_group_a_users_files_without_naming_the_user(api, user, other_user):
    first = start_upload(api.as_user(user))
    second = start_upload(api.as_user(user))
    theirs = start_upload(api.as_user(other_user))

    keys = {
        upload["file_id"]: File.objects.get(pk=upload["file_id"]).key
        for upload in (first, second, theirs)
    }
    folders = {file_id: key.rsplit("/", 1)[0] for file_id, key in keys.items()}
    assert folders[first["file_id"]] == folders[second["file_id"]]
    assert folders[first["file_id"]] != folders[theirs["file_id"]]
    assert all(user.pk not in key and "test-user" not in key for key in keys.values())


def test_confirm_before_uploading_fails_the_file(api, user, media_root):
    client = api.as_user(user)
    upload = start_upload(client)

    response = confirm(client, upload["file_id"])

    error = error_of(response, 400, "BAD_REQUEST")
    assert error["details"] == {"id": upload["file_id"], "reason": "not_uploaded"}
    assert client.get(f"{FILES_URL}/{upload['file_id']}").json()["status"] == "failed"
    # A failed file stays failed: the client starts over with a new upload URL.
    send_form(upload, CONTENT)
    again = error_of(confirm(client, upload["file_id"]), 400, "BAD_REQUEST")
    assert again["details"]["reason"] == "failed"
    assert stored_files(media_root) == []


def test_confirming_twice_returns_the_same_file(api, user):
    client = api.as_user(user)
    file = upload_locally(client)

    again = confirm(client, file["id"])

    assert again.status_code == 200
    assert again.json() == file


def test_object_over_the_limit_fails_at_confirm_and_is_removed(
    api, user, settings, media_root, django_capture_on_commit_callbacks
):
    client = api.as_user(user)
    upload = start_upload(client)
    send_form(upload, CONTENT)
    settings.FILE_MAX_BYTES = len(CONTENT) - 1

    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(client, upload["file_id"])

    assert error_of(response, 400, "BAD_REQUEST")["details"]["reason"] == "too_large"
    assert File.objects.get(pk=upload["file_id"]).status == File.Status.FAILED
    assert stored_files(media_root) == []


def test_confirming_someone_elses_file_is_not_found_and_changes_nothing(
    api, user, other_user, media_root
):
    theirs = start_upload(api.as_user(other_user))
    send_form(theirs, CONTENT)

    response = confirm(api.as_user(user), theirs["file_id"])

    error = error_of(response, 404, "NOT_FOUND")
    assert error["details"] == {"resource": "File", "id": theirs["file_id"]}
    assert File.objects.get(pk=theirs["file_id"]).status == File.Status.PENDING
    assert len(stored_files(media_root)) == 1


@pytest.mark.parametrize("file_id", ["not-a-uuid", "123", "' OR 1=1 --"])
def test_confirm_with_a_malformed_id_is_not_found(api, user, file_id):
    response = api.as_user(user).post(CONFIRM_URL, {"file_id": file_id})

    assert error_of(response, 404, "NOT_FOUND")["details"] == {"resource": "File", "id": file_id}


def test_confirm_without_an_id_is_a_validation_error(api, user):
    response = api.as_user(user).post(CONFIRM_URL, {})

    assert error_of(response, 422, "VALIDATION_ERROR")["details"]["field"] == "file_id"


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("delete", ""), ("get", "/download-url")]
)
@pytest.mark.parametrize("file_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_missing_or_malformed_ids_are_not_found(api, user, method, suffix, file_id):
    response = getattr(api.as_user(user), method)(f"{FILES_URL}/{file_id}{suffix}")

    assert error_of(response, 404, "NOT_FOUND")["details"] == {"resource": "File", "id": file_id}


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("delete", ""), ("get", "/download-url")]
)
def test_someone_elses_file_is_not_found_and_left_alone(
    api, user, other_user, media_root, method, suffix, django_capture_on_commit_callbacks
):
    theirs = upload_locally(api.as_user(other_user))

    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(api.as_user(user), method)(f"{FILES_URL}/{theirs['id']}{suffix}")

    assert error_of(response, 404, "NOT_FOUND")["details"] == {
        "resource": "File",
        "id": theirs["id"],
    }
    assert File.objects.get(pk=theirs["id"]).status == File.Status.UPLOADED
    assert [path.read_bytes() for path in stored_files(media_root)] == [CONTENT]


@pytest.mark.parametrize("status", [File.Status.PENDING, File.Status.FAILED])
def test_download_url_needs_an_uploaded_file(api, user, status):
    file = FileFactory(owner=user, status=status, size=None)

    response = api.as_user(user).get(f"{FILES_URL}/{file.pk}/download-url")

    error = error_of(response, 400, "BAD_REQUEST")
    assert error["details"] == {"id": str(file.pk), "status": status}


def test_list_is_newest_first_and_only_mine(api, user, other_user):
    now = timezone.now()
    old = FileFactory(owner=user, created_at=now - timedelta(days=2))
    new = FileFactory(owner=user, created_at=now)
    middle = FileFactory(owner=user, created_at=now - timedelta(days=1))
    FileFactory(owner=other_user)

    body = api.as_user(user).get(FILES_URL).json()

    assert [item["id"] for item in body["items"]] == [str(new.pk), str(middle.pk), str(old.pk)]
    assert (body["total"], body["skip"], body["limit"]) == (3, 0, 20)


def test_list_pages_with_skip_and_limit(api, user):
    FileFactory.create_batch(5, owner=user)

    body = api.as_user(user).get(FILES_URL, {"skip": 3, "limit": 2}).json()

    assert (len(body["items"]), body["total"], body["skip"], body["limit"]) == (2, 5, 3, 2)


def test_list_filters_by_status(api, user):
    FileFactory.create_batch(2, owner=user)
    pending = FileFactory(owner=user, status=File.Status.PENDING, size=None)

    body = api.as_user(user).get(FILES_URL, {"status": "pending"}).json()

    assert [item["id"] for item in body["items"]] == [str(pending.pk)]
    assert body["items"][0]["size"] == pending.declared_size


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "deleted"}, "status"),
        ({"status": ""}, "status"),
        ({"limit": 101}, "limit"),
        ({"skip": -1}, "skip"),
    ],
)
def test_list_rejects_bad_query_parameters(api, user, params, field):
    response = api.as_user(user).get(FILES_URL, params)

    assert error_of(response, 422, "VALIDATION_ERROR")["details"]["field"] == field


def test_list_runs_constant_queries(api, user, django_assert_max_num_queries):
    FileFactory.create_batch(30, owner=user)

    with django_assert_max_num_queries(3):
        response = api.as_user(user).get(f"{FILES_URL}?limit=100")

    assert response.status_code == 200
    assert len(response.json()["items"]) == 30


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", UPLOAD_URL),
        ("post", CONFIRM_URL),
        ("get", FILES_URL),
        ("get", f"{FILES_URL}/00000000-0000-0000-0000-000000000000"),
    ],
)
def test_files_need_a_token(api, db, method, path):
    error_of(getattr(api, method)(path), 401, "AUTHENTICATION_ERROR")


def test_storage_used_counts_confirmed_uploads_only(user, other_user):
    FileFactory(owner=user, size=1500)
    FileFactory(owner=user, size=500)
    FileFactory(owner=user, status=File.Status.PENDING, size=None, declared_size=10_000)
    FileFactory(owner=user, status=File.Status.FAILED, size=None, declared_size=10_000)
    FileFactory(owner=other_user, size=7)

    assert file_storage_used(owner=user) == 2000
    assert file_storage_used(owner=other_user) == 7


def test_storage_used_is_zero_without_files(user):
    assert file_storage_used(owner=user) == 0
