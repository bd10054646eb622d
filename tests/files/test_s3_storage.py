"""STORAGE_PROVIDER=s3 against a real S3 API (moto's server); R2 by its configuration."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from files.models import File
from tests.files.conftest import BUCKET
from tests.files.flow import (
    CONTENT,
    FILES_URL,
    confirm,
    error_of,
    send_form,
    send_form_over_http,
    start_upload,
)
from tests.live import request, run_manage

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("s3_storage")]


def head(s3_client, key: str) -> dict | None:
    try:
        return s3_client.head_object(Bucket=BUCKET, Key=key)
    except s3_client.exceptions.ClientError:
        return None


def test_presigned_post_upload_confirm_download_and_delete(
    api, user, s3_endpoint, s3_client, media_root, django_capture_on_commit_callbacks
):
    client = api.as_user(user)

    upload = start_upload(client, size=100)
    assert upload["upload_url"] == f"{s3_endpoint}/{BUCKET}"
    key = File.objects.get(pk=upload["file_id"]).key
    assert upload["fields"]["key"] == key
    assert upload["fields"]["Content-Type"] == "application/pdf"
    assert {"policy", "x-amz-signature", "x-amz-credential"} <= set(upload["fields"])

    status, _ = send_form_over_http(upload, CONTENT)
    assert status == 204
    assert head(s3_client, key)["ContentType"] == "application/pdf"

    confirmed = confirm(client, upload["file_id"])
    assert confirmed.status_code == 200
    assert (confirmed.json()["status"], confirmed.json()["size"]) == ("uploaded", len(CONTENT))

    link = client.get(f"{FILES_URL}/{upload['file_id']}/download-url").json()
    assert link["download_url"].startswith(f"{s3_endpoint}/{BUCKET}/{key}?")
    assert link["expires_in"] == 300
    status, headers, body = request("GET", link["download_url"])
    assert (status, body) == (200, CONTENT)
    assert headers["Content-Disposition"] == 'attachment; filename="report.pdf"'

    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.delete(f"{FILES_URL}/{upload['file_id']}")

    assert deleted.status_code == 204
    assert head(s3_client, key) is None
    assert not File.objects.filter(pk=upload["file_id"]).exists()
    assert not media_root.exists()


def test_upload_policy_limits_size_and_type(api, user):
    upload = start_upload(
        api.as_user(user), filename="photo.png", content_type="image/png", size=4321
    )

    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))

    conditions = policy["conditions"]
    assert ["content-length-range", 1, 4321] in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert {"key": upload["fields"]["key"]} in conditions
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 890 <= (expires - datetime.now(UTC)).total_seconds() <= 900


def test_object_larger_than_declared_fails_at_confirm_and_is_removed(
    api, user, s3_client, django_capture_on_commit_callbacks
):
    # Real S3 refuses this upload by its policy; confirm checks again whatever the bucket took.
    client = api.as_user(user)
    upload = start_upload(client, size=10)
    status, _ = send_form_over_http(upload, b"x" * 50)
    assert status == 204

    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(client, upload["file_id"])

    error = error_of(response, 400, "BAD_REQUEST")
    assert error["details"] == {"id": upload["file_id"], "reason": "larger_than_declared"}
    assert File.objects.get(pk=upload["file_id"]).status == File.Status.FAILED
    assert head(s3_client, upload["fields"]["key"]) is None


def test_confirm_before_uploading_fails_the_file(api, user):
    client = api.as_user(user)
    upload = start_upload(client)

    response = confirm(client, upload["file_id"])

    assert error_of(response, 400, "BAD_REQUEST")["details"]["reason"] == "not_uploaded"
    assert File.objects.get(pk=upload["file_id"]).status == File.Status.FAILED


def test_local_storage_endpoints_are_closed(client):
    upload = client.post("/api/v1/public/storage/upload?token=x", {"Content-Type": "a/b"})
    download = client.get("/api/v1/public/storage/download?token=x")

    error_of(upload, 404, "NOT_FOUND")
    error_of(download, 404, "NOT_FOUND")


def test_storage_outage_is_a_502(api, user, settings):
    settings.AWS_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.STORAGES = {**settings.STORAGES}  # a new storage object with the new endpoint
    client = api.as_user(user)
    upload = start_upload(client)

    response = confirm(client, upload["file_id"])

    assert error_of(response, 502, "EXTERNAL_SERVICE_ERROR")["details"]["service"] == "storage"
    assert File.objects.get(pk=upload["file_id"]).status == File.Status.PENDING


# --- Configuration (read at start-up, so checked in a fresh process) -------------------------

PRINT_STORAGE = """
import json
from django.conf import settings
from django.core.files.storage import storages
from files.storage import download_url, presigned_upload
client = storages["default"].connection.meta.client
print(json.dumps({
    "backend": settings.STORAGES["default"]["BACKEND"],
    "endpoint": client.meta.endpoint_url,
    "region": client.meta.region_name,
    "bucket": storages["default"].bucket_name,
    "upload_url": presigned_upload(key="k", content_type="image/png", max_size=5).url,
    "download_url": download_url(key="k", filename="a.png", content_type="image/png"),
}))
"""


R2 = {
    "STORAGE_PROVIDER": "r2",
    "R2_ACCOUNT_ID": "0123abcd",
    "R2_ACCESS_KEY_ID": "r2-key",
    "R2_SECRET_ACCESS_KEY": "r2-secret",
    "R2_BUCKET_NAME": "uploads",
}


@pytest.mark.standalone
def test_r2_is_s3_with_the_account_endpoint_and_region_auto():
    result = run_manage(R2, "shell", "-c", PRINT_STORAGE)

    assert result.returncode == 0, result.stderr
    storage = json.loads(result.stdout.strip().splitlines()[-1])
    assert storage["backend"] == "storages.backends.s3.S3Storage"
    assert storage["endpoint"] == "https://0123abcd.r2.cloudflarestorage.com"
    assert storage["region"] == "auto"
    assert storage["bucket"] == "uploads"
    # R2 has no presigned POST: uploads go through the app, downloads straight to the bucket.
    assert storage["upload_url"].startswith("/api/v1/public/storage/upload?token=")
    assert storage["download_url"].startswith("https://0123abcd.r2.cloudflarestorage.com/")


@pytest.mark.standalone
def test_missing_r2_settings_stop_start_up():
    result = run_manage({"STORAGE_PROVIDER": "r2"}, "check")

    assert result.returncode != 0
    for name in ("R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET_NAME"):
        assert f"- {name} is required when STORAGE_PROVIDER=r2." in result.stderr


@pytest.mark.standalone
def test_missing_s3_settings_stop_start_up():
    result = run_manage({"STORAGE_PROVIDER": "s3", "AWS_ACCESS_KEY_ID": "only-half"}, "check")

    assert result.returncode != 0
    assert "- AWS_STORAGE_BUCKET_NAME is required when STORAGE_PROVIDER=s3." in result.stderr
    assert "- AWS_S3_REGION_NAME (or AWS_S3_ENDPOINT_URL) is required" in result.stderr
    assert "Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither." in result.stderr


@pytest.mark.standalone
def test_s3_with_a_bucket_and_region_starts():
    env = {
        "STORAGE_PROVIDER": "s3",
        "AWS_STORAGE_BUCKET_NAME": "uploads",
        "AWS_S3_REGION_NAME": "eu-west-1",
    }

    result = run_manage(env, "check")

    assert result.returncode == 0, result.stderr


def test_r2_uploads_are_streamed_into_the_bucket_by_the_app(api, user, settings, s3_client):
    """R2 speaks the S3 API without presigned POST; moto stands in for the bucket."""
    settings.STORAGE_PROVIDER = "r2"
    client = api.as_user(user)

    upload = start_upload(client, size=len(CONTENT))
    assert upload["upload_url"].startswith("http://testserver/api/v1/public/storage/upload?")
    assert send_form(upload, CONTENT).status_code == 204
    key = File.objects.get(pk=upload["file_id"]).key
    assert head(s3_client, key)["ContentLength"] == len(CONTENT)

    confirmed = confirm(client, upload["file_id"])
    assert (confirmed.json()["status"], confirmed.json()["size"]) == ("uploaded", len(CONTENT))
    link = client.get(f"{FILES_URL}/{upload['file_id']}/download-url").json()
    status, _, body = request("GET", link["download_url"])
    assert (status, body) == (200, CONTENT)


# --- The stored and served type is the declared one, whatever the file part said -------------

HTML = b"<script>alert(document.cookie)</script>"


def download(client, file_id: str) -> tuple[int, dict[str, str], bytes]:
    """GET the file's download link from the bucket: status, headers (lower-case names), body."""
    link = client.get(f"{FILES_URL}/{file_id}/download-url").json()
    status, headers, body = request("GET", link["download_url"])
    return status, {name.lower(): value for name, value in headers.items()}, body


def test_r2_stores_and_serves_the_declared_type_not_the_file_parts(api, user, settings, s3_client):
    settings.STORAGE_PROVIDER = "r2"
    client = api.as_user(user)
    upload = start_upload(client, size=len(HTML))

    assert send_form(upload, HTML, part_type="text/html").status_code == 204
    assert confirm(client, upload["file_id"]).status_code == 200

    key = File.objects.get(pk=upload["file_id"]).key
    assert head(s3_client, key)["ContentType"] == "application/pdf"
    status, headers, body = download(client, upload["file_id"])
    assert (status, body) == (200, HTML)
    assert headers["content-type"] == "application/pdf"
    assert headers["content-disposition"] == 'attachment; filename="report.pdf"'


def test_s3_stores_the_signed_form_type_not_the_file_parts(api, user, s3_client):
    client = api.as_user(user)
    upload = start_upload(client, size=len(HTML))
    # The type is a form field the policy pins (test_upload_policy_limits_size_and_type).
    assert upload["fields"]["Content-Type"] == "application/pdf"

    status, _ = send_form_over_http(upload, HTML, part_type="text/html")
    assert status == 204
    assert confirm(client, upload["file_id"]).status_code == 200

    assert head(s3_client, upload["fields"]["key"])["ContentType"] == "application/pdf"
    status, headers, body = download(client, upload["file_id"])
    assert (status, body, headers["content-type"]) == (200, HTML, "application/pdf")


def test_downloads_are_served_with_the_declared_type_whatever_the_object_holds(
    api, user, s3_client
):
    """Objects stored before the declared type was enforced (R2 kept the part's type)."""
    client = api.as_user(user)
    upload = start_upload(client, filename="notes.txt", content_type="text/plain", size=len(HTML))
    s3_client.put_object(
        Bucket=BUCKET, Key=upload["fields"]["key"], Body=HTML, ContentType="text/html"
    )
    assert confirm(client, upload["file_id"]).status_code == 200

    status, headers, body = download(client, upload["file_id"])

    assert (status, body) == (200, HTML)
    assert headers["content-type"] == "text/plain"
    assert headers["content-disposition"] == 'attachment; filename="notes.txt"'
