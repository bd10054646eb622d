"""Writes to files: announcing an upload, confirming it, links, deletion and local transfers.

An upload has three steps: the client announces it (`file_upload_start`, a pending row and a
presigned upload), sends the bytes straight to storage, then confirms (`file_confirm`), which
checks what was really stored. Stored objects are removed after the transaction commits, by a
Celery task that retries.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.files import File as DjangoFile
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.personal_data import StoredArchive
from billing.selectors import plan_limits
from config.celery import enqueue_stored_work
from config.errors import (
    AuthorizationError,
    BadRequestError,
    NotFoundError,
    QuotaExceededError,
    ValidationError,
)
from files import storage
from files.events import file_event_on_commit
from files.models import File
from files.selectors import (
    EXPORT_KEY_PREFIX,
    export_files,
    file_get,
    file_storage_pending,
    file_storage_used,
)
from files.tasks import delete_stored_objects
from usage.services import usage_record

MAX_FILENAME_LENGTH = 255
# Extensions longer than this are not kept when a long name is shortened.
MAX_EXTENSION_LENGTH = 16
# Control, format (bidirectional overrides, zero-width), surrogate, line and paragraph separators.
DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Keys per object-deletion task (the most one S3 DeleteObjects call takes).
DELETE_BATCH = 1000


@dataclass(frozen=True)
class FileUpload:
    """A newly announced file and where its bytes go."""

    file: File
    target: storage.UploadTarget
    expires_in: int


@dataclass(frozen=True)
class DownloadLink:
    """A short-lived link that downloads a file as an attachment."""

    url: str
    filename: str
    expires_in: int


def sanitize_filename(raw: str) -> str:
    """The name to show and download as: no directories, no control characters, ≤255 chars.

    Returns "" when nothing usable is left (e.g. "../", "..").
    """
    name = unicodedata.normalize("NFC", raw)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in DROPPED_CATEGORIES)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name.strip("."):
        return ""
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if stem and len(extension) <= MAX_EXTENSION_LENGTH:
            name = stem[: MAX_FILENAME_LENGTH - len(extension) - 1] + dot + extension
        else:
            name = name[:MAX_FILENAME_LENGTH]
    return name


def _storage_key(*, owner_id: str, file: File) -> str:
    # The owner id is the identity provider's subject: hashed, it groups a user's objects
    # without putting the subject (or its characters) into storage paths.
    owner_part = hashlib.sha256(owner_id.encode()).hexdigest()[:16]
    return f"uploads/{owner_part}/{file.pk}"


def _delete_objects_after_commit(keys: list[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        transaction.on_commit(partial(enqueue_stored_work, delete_stored_objects, batch))


def _lock_owner_storage(*, owner: User) -> None:
    """Lock the owner's row until the transaction ends: one storage-quota decision at a time.

    Announcing an upload and confirming one both take it (first, before any file row), so a
    check and the write it allows are never interleaved with another's.
    """
    list(User.objects.select_for_update().filter(pk=owner.pk).values_list("pk", flat=True))


def _check_storage_quota(*, owner: User, size: int) -> None:
    """429 QUOTA_EXCEEDED when `size` more bytes would pass the plan's storage limit.

    Counts confirmed uploads and the pending ones whose upload URL is still valid, so parallel
    uploads cannot pass the limit together. Runs with the owner's row locked: one check at a time.
    """
    _lock_owner_storage(owner=owner)
    allowed = plan_limits(user=owner).storage_bytes
    since = timezone.now() - timedelta(seconds=settings.FILE_UPLOAD_URL_EXPIRES)
    used = file_storage_used(owner=owner)
    pending = file_storage_pending(owner=owner, since=since)
    if used + pending + size > allowed:
        raise QuotaExceededError(
            "This upload would pass your plan's storage limit",
            details={
                "limit": "storage_bytes",
                "allowed": allowed,
                "used": used,
                "pending": pending,
                "requested": size,
            },
        )


def file_upload_start(*, owner: User, filename: str, content_type: str, size: int) -> FileUpload:
    """Record a pending file and presign its upload.

    422 for a bad name, type or size; 429 QUOTA_EXCEEDED when it would pass the plan's storage.
    """
    clean_name = sanitize_filename(filename)
    media_type = content_type.strip().lower()
    errors = []
    if not clean_name:
        errors.append(
            {
                "field": "filename",
                "message": "The file name has no usable characters.",
                "code": "invalid",
            }
        )
    if media_type not in settings.FILE_ALLOWED_CONTENT_TYPES:
        errors.append(
            {
                "field": "content_type",
                "message": f"Files of type '{media_type}' are not accepted.",
                "code": "not_allowed",
            }
        )
    if size > settings.FILE_MAX_BYTES:
        errors.append(
            {
                "field": "size",
                "message": f"Files may be at most {settings.FILE_MAX_BYTES} bytes.",
                "code": "max_value",
            }
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _check_storage_quota(owner=owner, size=size)
        file = File(owner=owner, filename=clean_name, content_type=media_type, declared_size=size)
        file.key = _storage_key(owner_id=owner.pk, file=file)
        file.save()
        target = storage.presigned_upload(key=file.key, content_type=media_type, max_size=size)
    return FileUpload(file=file, target=target, expires_in=settings.FILE_UPLOAD_URL_EXPIRES)


def file_confirm(*, owner: User, file_id: str) -> File:
    """Check what was stored and mark the file uploaded with its real size.

    Idempotent: confirming an uploaded file again returns it unchanged. When nothing was stored,
    the object is empty, or it is larger than declared or than the limit, the file becomes
    `failed`, its object is removed, and the answer is 400. When the stored bytes and the
    owner's confirmed uploads together pass the plan's storage limit (pending uploads stop
    counting once their URL expires, so the announcement's check alone is not enough), the same
    happens with 429 QUOTA_EXCEEDED.
    """
    error: BadRequestError | QuotaExceededError
    with transaction.atomic():
        _lock_owner_storage(owner=owner)
        file = file_get(owner=owner, file_id=file_id, for_update=True)
        if file.status == File.Status.UPLOADED:
            return file
        if file.status == File.Status.FAILED:
            raise BadRequestError(
                "This upload failed; request a new upload URL",
                details={"id": str(file.pk), "reason": "failed"},
            )
        stored_size = storage.stat_object(key=file.key)
        if stored_size is None:
            error = _confirm_refused(
                file=file, reason="not_uploaded", message="Nothing was uploaded for this file"
            )
        elif stored_size == 0:
            error = _confirm_refused(
                file=file, reason="empty", message="The uploaded file is empty"
            )
        elif stored_size > file.declared_size:
            error = _confirm_refused(
                file=file,
                reason="larger_than_declared",
                message="The uploaded file is larger than declared",
            )
        elif stored_size > settings.FILE_MAX_BYTES:
            error = _confirm_refused(
                file=file, reason="too_large", message="The uploaded file is larger than the limit"
            )
        elif quota_error := _confirm_quota_error(owner=owner, file=file, size=stored_size):
            error = quota_error
        else:
            file.status = File.Status.UPLOADED
            file.size = stored_size
            file.uploaded_at = timezone.now()
            file.save(update_fields=["status", "size", "uploaded_at", "updated_at"])
            transaction.on_commit(
                partial(usage_record, user_id=str(owner.pk), metric="file_uploads")
            )
            file_event_on_commit("file.uploaded", file)
            return file
        file.status = File.Status.FAILED
        file.save(update_fields=["status", "updated_at"])
        if stored_size is not None:
            _delete_objects_after_commit([file.key])
    # Raised after the commit, so the file stays `failed`.
    raise error


def _confirm_refused(*, file: File, reason: str, message: str) -> BadRequestError:
    return BadRequestError(message, details={"id": str(file.pk), "reason": reason})


def _confirm_quota_error(*, owner: User, file: File, size: int) -> QuotaExceededError | None:
    """The 429 for confirming `size` stored bytes past the plan's storage limit, else None.

    Only confirmed uploads count here: the bytes are already stored, and other pending uploads
    are checked when they are confirmed. Needs the owner's row locked (`_lock_owner_storage`).
    """
    allowed = plan_limits(user=owner).storage_bytes
    used = file_storage_used(owner=owner)
    if used + size <= allowed:
        return None
    return QuotaExceededError(
        "This upload passes your plan's storage limit; it was not kept",
        details={
            "id": str(file.pk),
            "limit": "storage_bytes",
            "allowed": allowed,
            "used": used,
            "requested": size,
        },
    )


def file_download_link(*, owner: User, file_id: str) -> DownloadLink:
    """A short-lived attachment download link for an uploaded file (400 otherwise)."""
    file = file_get(owner=owner, file_id=file_id)
    if file.status != File.Status.UPLOADED:
        raise BadRequestError(
            "The file has not been uploaded", details={"id": str(file.pk), "status": file.status}
        )
    usage_record(user_id=str(owner.pk), metric="file_downloads")
    return DownloadLink(
        url=storage.download_url(
            key=file.key, filename=file.filename, content_type=file.content_type
        ),
        filename=file.filename,
        expires_in=settings.FILE_DOWNLOAD_URL_EXPIRES,
    )


def files_delete(*, files: QuerySet[File]) -> int:
    """Delete these file rows now and their stored objects after commit; returns the count."""
    with transaction.atomic():
        keys = list(files.values_list("key", flat=True))
        deleted, _ = files.delete()
        _delete_objects_after_commit(keys)
    return deleted


def file_delete(*, owner: User, file_id: str) -> None:
    """Delete one of the owner's files (404 when missing or someone else's)."""
    file = file_get(owner=owner, file_id=file_id)
    with transaction.atomic():
        file_event_on_commit("file.deleted", file)
        files_delete(files=File.objects.filter(pk=file.pk))


def files_delete_for_owner(*, owner_id: str) -> int:
    """Delete every file of a user (GDPR erasure); returns how many rows went."""
    return files_delete(files=File.objects.filter(owner_id=owner_id))


def _export_key(*, user_id: str, name: str) -> str:
    owner_part = hashlib.sha256(user_id.encode()).hexdigest()[:16]
    return f"{EXPORT_KEY_PREFIX}{owner_part}/{name}.json"


def file_export_archive_store(
    *, user: User, name: str, filename: str, body: bytes
) -> StoredArchive:
    """Store a user's data export as one of their files (JSON, already uploaded) under a key made
    from `name`, replacing their previous export; returns its file id."""
    now = timezone.now()
    file = File(
        owner=user,
        filename=filename,
        content_type="application/json",
        declared_size=len(body),
        size=len(body),
        status=File.Status.UPLOADED,
        uploaded_at=now,
        key=_export_key(user_id=user.pk, name=name),
    )
    storage.save_uploaded_object(
        key=file.key,
        content=SimpleUploadedFile("export.json", body),
        content_type=file.content_type,
    )
    file.save()
    # Only the newest export is kept.
    files_delete(files=export_files(owner=user).exclude(pk=file.pk))
    return StoredArchive(file_id=str(file.pk))


def file_export_archive_link(*, user: User, file_id: str) -> str | None:
    """A short-lived download URL of the user's stored export `file_id` (relative for local
    storage), counted as a download; None when it is no longer stored (replaced, deleted)."""
    file = export_files(owner=user).filter(pk=file_id, status=File.Status.UPLOADED).first()
    if file is None:
        return None
    usage_record(user_id=str(user.pk), metric="file_downloads")
    return storage.download_url(
        key=file.key, filename=file.filename, content_type=file.content_type
    )


# --- Local storage: the app's own upload and download endpoints ------------------------------


def _require_local_storage() -> None:
    if not storage.is_local():
        raise NotFoundError(message="Local file storage is not in use")


def file_local_upload_open(*, token: str) -> File:
    """The pending file an app upload URL is for (403 when the URL is bad, expired or spent)."""
    if not storage.app_receives_uploads():
        raise NotFoundError(message="Uploads go straight to the file storage")
    key = storage.read_upload_token(token)
    file = File.objects.filter(key=key, status=File.Status.PENDING).first()
    if file is None:
        raise AuthorizationError("This upload link is no longer valid")
    return file


def file_local_upload_store(
    *, file: File, content_type: str | None, content: UploadedFile | None
) -> None:
    """Store a received upload for a pending file, checked like S3 checks a presigned POST.

    The size limit was already enforced while the body streamed in.
    """
    if content is None:
        raise BadRequestError("The form has no file part named 'file'")
    if content_type != file.content_type:
        raise BadRequestError(
            f"The form's Content-Type field must be '{file.content_type}'",
            details={"expected": file.content_type},
        )
    if not content.size:
        raise BadRequestError("The file is empty")
    storage.save_uploaded_object(key=file.key, content=content, content_type=file.content_type)


def file_local_download_open(*, token: str) -> tuple[File, DjangoFile]:
    """An uploaded file and its opened content, for a local download URL (403, 404)."""
    _require_local_storage()
    key = storage.read_download_token(token)
    file = File.objects.filter(key=key, status=File.Status.UPLOADED).first()
    content = storage.open_local_object(key=key) if file is not None else None
    if file is None or content is None:
        raise NotFoundError("File", key.rsplit("/", 1)[-1])
    return file, content


# --- Clean-up: uploads announced but never confirmed, and failed ones ------------------------

PURGE_BATCH = 500


def files_purge_expired_pending(*, older_than: timedelta, batch_size: int = PURGE_BATCH) -> int:
    """Delete pending files announced more than `older_than` ago; returns how many rows went.

    Their upload URLs expired long ago, so nothing can still arrive for them; bytes a client did
    send but never confirmed are removed after commit like any deleted file's. Uploaded and failed
    files are not touched, nor is a row locked by a confirmation running now (it is skipped, and
    the confirmation finds it). Runs in batches of `batch_size` rows, one transaction each.
    """
    return _purge(status=File.Status.PENDING, older_than=older_than, batch_size=batch_size)


def files_purge_failed(*, older_than: timedelta, batch_size: int = PURGE_BATCH) -> int:
    """Delete failed uploads announced more than `older_than` ago; returns how many rows went.

    A failed upload can never be confirmed (the client asks for a new upload URL), so past the
    time its user may want to see why it failed the row is only clutter. Any stored object is
    removed after commit too (normally already gone: a refused confirmation deletes it, but that
    deletion may have been lost). Batches and locking as `files_purge_expired_pending`.
    """
    return _purge(status=File.Status.FAILED, older_than=older_than, batch_size=batch_size)


def _purge(*, status: str, older_than: timedelta, batch_size: int) -> int:
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                File.objects.select_for_update(skip_locked=True)
                .filter(status=status, created_at__lt=cutoff)
                .order_by("created_at")
                .values_list("pk", "key")[:batch_size]
            )
            File.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
            _delete_objects_after_commit([key for _, key in rows])
        total += len(rows)
        if len(rows) < batch_size:
            return total
