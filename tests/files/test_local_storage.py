"""The embedded default: files on local disk behind the app's own signed upload/download URLs."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from files.models import File
from tests.files.flow import (
    CONTENT,
    FILES_URL,
    confirm,
    error_of,
    send_form,
    start_upload,
    stored_files,
    upload_locally,
)

pytestmark = pytest.mark.django_db


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def with_token(url: str, token: str) -> str:
    return f"{urlsplit(url).path}?{urlencode({'token': token})}"


def test_upload_confirm_list_download_and_delete(
    api, user, media_root, django_capture_on_commit_callbacks
):
    client = api.as_user(user)

    upload = start_upload(client, size=100)
    assert set(upload) == {"file_id", "upload_url", "fields", "expires_in"}
    assert upload["upload_url"].startswith("http://testserver/api/v1/public/storage/upload?token=")
    assert upload["fields"] == {"Content-Type": "application/pdf"}
    assert upload["expires_in"] == 900
    pending = client.get(f"{FILES_URL}/{upload['file_id']}").json()
    assert (pending["status"], pending["size"]) == ("pending", 100)

    sent = send_form(upload, CONTENT)
    assert sent.status_code == 204
    assert sent.content == b""

    confirmed = confirm(client, upload["file_id"])
    assert confirmed.status_code == 200
    file = confirmed.json()
    assert set(file) == {
        "id",
        "filename",
        "content_type",
        "size",
        "status",
        "created_at",
        "updated_at",
    }
    assert file["id"] == upload["file_id"]
    assert (file["filename"], file["content_type"]) == ("report.pdf", "application/pdf")
    assert (file["status"], file["size"]) == ("uploaded", len(CONTENT))
    assert file["created_at"].endswith("Z")
    [stored] = stored_files(media_root)
    assert stored.read_bytes() == CONTENT
    assert stored.relative_to(media_root).parts[0] == "uploads"
    assert stored.name == file["id"]

    listed = client.get(FILES_URL).json()
    assert listed["total"] == 1
    assert listed["items"] == [file]
    assert client.get(f"{FILES_URL}/{file['id']}").json() == file

    link = client.get(f"{FILES_URL}/{file['id']}/download-url")
    assert link.status_code == 200
    assert set(link.json()) == {"download_url", "filename", "expires_in"}
    assert link.json()["filename"] == "report.pdf"
    assert link.json()["expires_in"] == 300
    download_url = link.json()["download_url"]
    assert download_url.startswith("http://testserver/api/v1/public/storage/download?token=")

    downloaded = Client().get(download_url)
    assert downloaded.status_code == 200
    assert downloaded["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert downloaded["Content-Type"] == "application/pdf"
    assert downloaded["X-Content-Type-Options"] == "nosniff"
    assert b"".join(downloaded.streaming_content) == CONTENT

    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.delete(f"{FILES_URL}/{file['id']}")

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert not File.objects.filter(pk=file["id"]).exists()
    assert stored_files(media_root) == []
    error_of(client.get(f"{FILES_URL}/{file['id']}"), 404, "NOT_FOUND")
    error_of(Client().get(download_url), 404, "NOT_FOUND")


def test_upload_larger_than_declared_is_cut_off_while_streaming(api, user, media_root):
    client = api.as_user(user)
    upload = start_upload(client, size=1000)
    body_size = 2 * 1024 * 1024

    response = send_form(upload, b"x" * body_size)

    error = error_of(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"limit_bytes": 1000}
    # The server stopped reading at the limit: most of the body was never read.
    unread = len(response.wsgi_request.environ["wsgi.input"])
    assert unread > body_size - 512 * 1024
    assert stored_files(media_root) == []
    assert stored_files(media_root.parent / "upload-tmp") == []
    failed = confirm(client, upload["file_id"])
    assert error_of(failed, 400, "BAD_REQUEST")["details"]["reason"] == "not_uploaded"


def test_upload_of_exactly_the_declared_size_is_accepted(api, user, media_root):
    upload = start_upload(api.as_user(user), size=len(CONTENT))

    assert send_form(upload, CONTENT).status_code == 204
    assert [path.read_bytes() for path in stored_files(media_root)] == [CONTENT]


def test_tampered_or_missing_token_is_refused(api, user, media_root):
    upload = start_upload(api.as_user(user))
    token = token_of(upload["upload_url"])
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    base = urlsplit(upload["upload_url"]).path
    form = {**upload["fields"]}

    for url in (with_token(upload["upload_url"], tampered), base, f"{base}?token="):
        response = Client().post(url, form)
        assert error_of(response, 403, "AUTHORIZATION_ERROR")["message"] == (
            "This link is not valid"
        )
    assert stored_files(media_root) == []


def test_download_token_does_not_work_for_uploads(api, user, media_root):
    client = api.as_user(user)
    file = upload_locally(client)
    download_url = client.get(f"{FILES_URL}/{file['id']}/download-url").json()["download_url"]
    upload = start_upload(client)
    as_upload = {**upload, "upload_url": with_token(upload["upload_url"], token_of(download_url))}

    error_of(send_form(as_upload, CONTENT), 403, "AUTHORIZATION_ERROR")


def test_expired_upload_link_is_refused(api, user, media_root):
    upload = start_upload(api.as_user(user))

    with freeze_time(timezone.now() + timedelta(seconds=901)):
        response = send_form(upload, CONTENT)

    assert error_of(response, 403, "AUTHORIZATION_ERROR")["message"] == "This link has expired"
    assert stored_files(media_root) == []


def test_expired_download_link_is_refused(api, user):
    client = api.as_user(user)
    file = upload_locally(client)
    url = client.get(f"{FILES_URL}/{file['id']}/download-url").json()["download_url"]

    with freeze_time(timezone.now() + timedelta(seconds=301)):
        response = Client().get(url)

    assert error_of(response, 403, "AUTHORIZATION_ERROR")["message"] == "This link has expired"


def test_tampered_download_link_is_refused(api, user):
    client = api.as_user(user)
    file = upload_locally(client)
    url = client.get(f"{FILES_URL}/{file['id']}/download-url").json()["download_url"]
    token = token_of(url)

    response = Client().get(with_token(url, token[:-1] + ("A" if token[-1] != "A" else "B")))

    error_of(response, 403, "AUTHORIZATION_ERROR")


def test_upload_link_is_spent_once_the_file_is_confirmed(api, user, media_root):
    client = api.as_user(user)
    upload = start_upload(client)
    send_form(upload, CONTENT)
    confirm(client, upload["file_id"])

    again = send_form(upload, b"replaced")

    assert error_of(again, 403, "AUTHORIZATION_ERROR")["message"] == (
        "This upload link is no longer valid"
    )
    assert [path.read_bytes() for path in stored_files(media_root)] == [CONTENT]


def test_a_retried_upload_replaces_the_first_one(api, user, media_root):
    client = api.as_user(user)
    upload = start_upload(client)

    send_form(upload, b"first try")
    send_form(upload, CONTENT)

    assert [path.read_bytes() for path in stored_files(media_root)] == [CONTENT]
    assert confirm(client, upload["file_id"]).json()["size"] == len(CONTENT)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Content-Type": "text/html"}, "The form's Content-Type field must be 'application/pdf'"),
        ({}, "The form's Content-Type field must be 'application/pdf'"),
    ],
)
def test_form_must_carry_the_signed_content_type(api, user, media_root, fields, message):
    upload = start_upload(api.as_user(user))

    response = send_form(upload, CONTENT, fields=fields)

    assert error_of(response, 400, "BAD_REQUEST")["message"] == message
    assert stored_files(media_root) == []


def test_form_without_a_file_part_is_refused(api, user):
    upload = start_upload(api.as_user(user))

    response = Client().post(upload["upload_url"], upload["fields"])

    error_of(response, 400, "BAD_REQUEST")


def test_form_with_two_files_is_refused(api, user, media_root):
    upload = start_upload(api.as_user(user))
    form = {**upload["fields"], "file": [_named(b"one"), _named(b"two")]}

    response = Client().post(upload["upload_url"], form)

    assert error_of(response, 400, "BAD_REQUEST")["message"] == (
        "Send exactly one file part, named 'file'"
    )
    assert stored_files(media_root) == []


def test_empty_file_is_refused(api, user, media_root):
    upload = start_upload(api.as_user(user))

    error_of(send_form(upload, b""), 400, "BAD_REQUEST")
    assert stored_files(media_root) == []


def test_upload_that_is_not_a_form_is_refused(api, user):
    upload = start_upload(api.as_user(user))

    response = Client().post(upload["upload_url"], {"file": "x"}, content_type="application/json")

    error_of(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_download_names_non_ascii_files_for_every_browser(api, user):
    client = api.as_user(user)
    file = upload_locally(client, filename="résumé (final).pdf")
    url = client.get(f"{FILES_URL}/{file['id']}/download-url").json()["download_url"]

    response = Client().get(url)

    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20%28final%29.pdf"
    )
    assert b"".join(response.streaming_content) == CONTENT


def test_access_log_never_holds_the_signed_token(api, user, caplog):
    upload = start_upload(api.as_user(user))

    with caplog.at_level(logging.INFO, logger="groundwork.access"):
        send_form(upload, CONTENT)

    paths = [r.path for r in caplog.records if r.name == "groundwork.access"]
    assert "/api/v1/public/storage/upload" in paths
    assert token_of(upload["upload_url"]) not in caplog.text


def _named(content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("part.pdf", content, "application/pdf")


def test_a_file_part_sent_as_text_html_is_served_with_the_declared_type(api, user, media_root):
    client = api.as_user(user)
    html = b"<script>alert(document.cookie)</script>"
    upload = start_upload(client, size=len(html))

    assert send_form(upload, html, part_type="text/html").status_code == 204
    file = confirm(client, upload["file_id"]).json()
    url = client.get(f"{FILES_URL}/{file['id']}/download-url").json()["download_url"]
    downloaded = Client().get(url)

    assert file["content_type"] == "application/pdf"
    assert downloaded["Content-Type"] == "application/pdf"
    assert downloaded["X-Content-Type-Options"] == "nosniff"
    assert downloaded["Content-Disposition"].startswith("attachment;")
    assert b"".join(downloaded.streaming_content) == html
