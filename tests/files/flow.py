"""Client-side steps of an upload, done the way an app would do them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from tests.conftest import ApiClient
from tests.files.conftest import BUCKET
from tests.live import request

UPLOAD_URL = "/api/v1/app/files/upload-url"
CONFIRM_URL = "/api/v1/app/files/confirm"
FILES_URL = "/api/v1/app/files"
CONTENT = b"%PDF-1.7\nquarterly numbers\n"


def start_upload(client: ApiClient, **overrides: Any) -> dict[str, Any]:
    """POST /files/upload-url for a small PDF (fields overridable); the 201 body."""
    body = {"filename": "report.pdf", "content_type": "application/pdf", "size": len(CONTENT)}
    response = client.post(UPLOAD_URL, {**body, **overrides})
    assert response.status_code == 201, response.json()
    result: dict[str, Any] = response.json()
    return result


def send_form(
    upload: dict[str, Any],
    content: bytes,
    *,
    fields: dict[str, str] | None = None,
    part_type: str = "application/octet-stream",
) -> Any:
    """POST the multipart form (`fields`, then `file`) to a local upload URL, unauthenticated.

    `part_type` is the Content-Type header of the `file` part itself.
    """
    form: dict[str, Any] = dict(upload["fields"] if fields is None else fields)
    form["file"] = SimpleUploadedFile("report.pdf", content, part_type)
    return Client().post(upload["upload_url"], form)


def send_form_over_http(
    upload: dict[str, Any], content: bytes, *, part_type: str = "text/plain"
) -> tuple[int, bytes]:
    """The same form sent over HTTP (to S3): status and body."""
    form: dict[str, Any] = {
        **upload["fields"],
        "file": SimpleUploadedFile("report.pdf", content, part_type),
    }
    status, _, body = request(
        "POST",
        upload["upload_url"],
        headers={"Content-Type": MULTIPART_CONTENT},
        body=encode_multipart(BOUNDARY, form),
    )
    return status, body


def confirm(client: ApiClient, file_id: str) -> Any:
    """POST /files/confirm."""
    return client.post(CONFIRM_URL, {"file_id": file_id})


def upload_locally(client: ApiClient, content: bytes = CONTENT, **overrides: Any) -> dict[str, Any]:
    """A whole local upload (start, send, confirm); the confirmed File."""
    upload = start_upload(client, size=len(content), **overrides)
    assert send_form(upload, content).status_code == 204
    response = confirm(client, upload["file_id"])
    assert response.status_code == 200, response.json()
    result: dict[str, Any] = response.json()
    return result


def stored_files(root: Path) -> list[Path]:
    """Every file under a storage folder."""
    return sorted(path for path in root.rglob("*") if path.is_file())


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The envelope's error, after checking the status and code."""
    assert response.status_code == status, response.content
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def bucket_object(s3_client: Any, key: str) -> bytes | None:
    """The bytes stored under `key` in the test bucket, None when there is no object."""
    try:
        body: bytes = s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return None
    return body
