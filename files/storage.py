"""Where file bytes live: Django's default storage, either S3-compatible or local disk.

With S3 (django-storages' `S3Storage`), clients upload and download directly against the bucket
with presigned requests. With any other storage (the embedded default: files under MEDIA_ROOT),
the app plays the bucket's part itself: it hands out signed, expiring URLs of its own public
endpoints (`files.public_urls`), which stream uploads to disk and serve downloads. R2 is in
between: it serves presigned downloads but does not implement presigned POST, so uploads go to
the app's upload endpoint, which streams them on into the bucket; the client sees the same
`upload_url` + `fields` contract either way.

Keys are passed to the bucket unchanged, so the S3 storage must have no `location` prefix.

Local URLs carry their signed token in the query string, which the access log never writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.files import File as DjangoFile
from django.core.files.storage import Storage, storages
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse
from django.utils.http import content_disposition_header

from config.errors import AuthorizationError, ExternalServiceError

if TYPE_CHECKING:
    from storages.backends.s3 import S3Storage

UPLOAD_SALT = "files.storage.upload"
DOWNLOAD_SALT = "files.storage.download"
# DeleteObjects accepts at most this many keys per call.
S3_DELETE_BATCH = 1000


@dataclass(frozen=True)
class UploadTarget:
    """Where and how a client uploads: a multipart POST of `fields` plus `file` to `url`.

    `url` is relative (a path of this app) for local storage; the view makes it absolute.
    """

    url: str
    fields: dict[str, str]


def _storage() -> Storage:
    return storages["default"]


def _s3() -> S3Storage | None:
    """The bucket storage, or None for local files (boto3 is then never imported)."""
    if settings.STORAGE_PROVIDER == "local":
        return None
    from storages.backends.s3 import S3Storage

    storage = _storage()
    return storage if isinstance(storage, S3Storage) else None


def _client(storage: S3Storage) -> Any:
    return storage.connection.meta.client


@contextmanager
def _s3_errors() -> Iterator[None]:
    """Report bucket failures to clients as the 502 envelope instead of a 500."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise ExternalServiceError(
            "The file storage service failed", details={"service": "storage"}
        ) from exc


def presigned_upload(*, key: str, content_type: str, max_size: int) -> UploadTarget:
    """An upload of at most `max_size` bytes with exactly `content_type`, to `key`."""
    s3 = _s3()
    if s3 is None or app_receives_uploads():
        token = signing.dumps(key, salt=UPLOAD_SALT)
        url = f"{reverse('files-local-upload')}?{urlencode({'token': token})}"
        return UploadTarget(url=url, fields={"Content-Type": content_type})
    with _s3_errors():
        post = _client(s3).generate_presigned_post(
            Bucket=s3.bucket_name,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_size]],
            ExpiresIn=settings.FILE_UPLOAD_URL_EXPIRES,
        )
    return UploadTarget(url=post["url"], fields=dict(post["fields"]))


def download_url(*, key: str, filename: str, content_type: str) -> str:
    """A short-lived URL that serves the object as an attachment named `filename`.

    The bucket is told to answer with `content_type` (the declared, allowed type), whatever
    Content-Type the object was stored with.
    """
    s3 = _s3()
    if s3 is None:
        token = signing.dumps(key, salt=DOWNLOAD_SALT)
        return f"{reverse('files-local-download')}?{urlencode({'token': token})}"
    with _s3_errors():
        url: str = _client(s3).generate_presigned_url(
            "get_object",
            Params={
                "Bucket": s3.bucket_name,
                "Key": key,
                "ResponseContentDisposition": content_disposition_header(True, filename),
                "ResponseContentType": content_type,
            },
            ExpiresIn=settings.FILE_DOWNLOAD_URL_EXPIRES,
        )
    return url


def stat_object(*, key: str) -> int | None:
    """The stored object's size in bytes, or None when nothing is stored under `key`."""
    s3 = _s3()
    if s3 is None:
        storage = _storage()
        return storage.size(key) if storage.exists(key) else None
    from botocore.exceptions import ClientError

    with _s3_errors():
        try:
            head = _client(s3).head_object(Bucket=s3.bucket_name, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
    return int(head["ContentLength"])


def delete_objects(*, keys: Sequence[str]) -> None:
    """Remove the objects under `keys`; keys with nothing stored are fine (idempotent)."""
    s3 = _s3()
    if s3 is None:
        storage = _storage()
        for key in keys:
            storage.delete(key)
        return
    client = _client(s3)
    for start in range(0, len(keys), S3_DELETE_BATCH):
        batch = keys[start : start + S3_DELETE_BATCH]
        response = client.delete_objects(
            Bucket=s3.bucket_name,
            Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
        )
        if response.get("Errors"):
            failed = ", ".join(error.get("Key", "?") for error in response["Errors"])
            raise RuntimeError(f"Storage refused to delete: {failed}")


# --- Local storage: the app's own signed upload and download URLs ---------------------------


def is_local() -> bool:
    """True when files are stored by the app itself (not in an S3-compatible bucket)."""
    return _s3() is None


def app_receives_uploads() -> bool:
    """True when clients upload through the app's endpoint: local storage, and R2 (no POST)."""
    return is_local() or settings.STORAGE_PROVIDER == "r2"


def read_upload_token(token: str) -> str:
    """The key a local upload URL was signed for; 403 when tampered with or expired."""
    return _read_token(token, salt=UPLOAD_SALT, max_age=settings.FILE_UPLOAD_URL_EXPIRES)


def read_download_token(token: str) -> str:
    """The key a local download URL was signed for; 403 when tampered with or expired."""
    return _read_token(token, salt=DOWNLOAD_SALT, max_age=settings.FILE_DOWNLOAD_URL_EXPIRES)


def _read_token(token: str, *, salt: str, max_age: int) -> str:
    try:
        key = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise AuthorizationError("This link has expired") from exc
    except signing.BadSignature as exc:
        raise AuthorizationError("This link is not valid") from exc
    if not isinstance(key, str):
        raise AuthorizationError("This link is not valid")
    return key


def save_uploaded_object(*, key: str, content: UploadedFile, content_type: str) -> None:
    """Store an upload received by the app under exactly `key`, replacing an earlier one.

    On disk the temporary file is moved into place, not copied; with R2 it is streamed on,
    stored with `content_type` (the declared type), never the Content-Type the client gave the
    file part.
    """
    storage = _storage()
    # S3Storage takes the object's Content-Type from this attribute, which a received upload
    # sets from its multipart part's header (anything, text/html included).
    content.content_type = content_type
    with _s3_errors() if not is_local() else nullcontext():
        storage.delete(key)
        saved_as = storage.save(key, content)
        if saved_as != key:  # a concurrent upload to the same key won the race
            storage.delete(saved_as)


def open_local_object(*, key: str) -> DjangoFile | None:
    """The stored object opened for reading, or None when it is missing."""
    storage = _storage()
    try:
        return storage.open(key, "rb")
    except FileNotFoundError:
        return None
