"""Data exports: a JSON copy of a user's data, built in the background and emailed as a link.

`data_export_request` (POST /users/me/export) records a `DataExport` and queues
`accounts.tasks.build_data_export`, at most one per `EXPORT_MIN_INTERVAL_SECONDS` per user.
`data_export_build` gathers the profile, projects, files' metadata, billing status and usage
summary, stores the JSON as one of the user's files (content type application/json, already
`uploaded`) and emails (`export_ready`) a short-lived download link made by the files app's
storage, so local disk, S3 and R2 all serve it unchanged. A new export replaces the previous
one's file; the file stays in the user's files, where a fresh link can be asked for at any time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urljoin

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from accounts.emails import email_send
from accounts.models import DataExport, EmailMessage, User
from billing.selectors import billing_status, usage_summary
from config.api import iso_utc
from config.errors import RateLimitError
from files import storage
from files.models import File
from files.selectors import file_list
from files.services import files_delete
from projects.selectors import project_list

EXPORT_FORMAT = "groundwork-export"
EXPORT_VERSION = 1
EXPORT_KEY_PREFIX = "exports/"
# Days of usage the export's summary covers.
EXPORT_USAGE_DAYS = 30
MAX_ERROR_LENGTH = 2000

ExportOutcome = Literal["ready", "already_ready", "failed", "missing"]


def data_export_request(*, user: User, base_url: str) -> DataExport:
    """Queue an export of the user's data; its link is emailed to them when it is ready.

    `base_url` is the API's own absolute URL, to make local download links absolute.
    429 RATE_LIMIT_EXCEEDED (with `retry_after`) when the user asked for one (that did not fail)
    less than `EXPORT_MIN_INTERVAL_SECONDS` ago.
    """
    from accounts.tasks import build_data_export

    interval = timedelta(seconds=settings.EXPORT_MIN_INTERVAL_SECONDS)
    with transaction.atomic():
        # One request per user at a time, so two parallel requests cannot both pass the check.
        list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
        last = (
            DataExport.objects.filter(user=user)
            .exclude(status=DataExport.Status.FAILED)
            .order_by("-created_at")
            .first()
        )
        now = timezone.now()
        if last is not None and last.created_at > now - interval:
            retry_after = int((last.created_at + interval - now).total_seconds()) + 1
            raise RateLimitError(retry_after)
        export = DataExport.objects.create(user=user)
        transaction.on_commit(lambda: build_data_export.delay(str(export.pk), base_url))
    return export


def _export_key(*, user_id: str, export: DataExport) -> str:
    owner_part = hashlib.sha256(user_id.encode()).hexdigest()[:16]
    return f"{EXPORT_KEY_PREFIX}{owner_part}/{export.pk}.json"


def data_export_content(*, user: User) -> dict[str, Any]:
    """Everything the export holds about `user`, and nothing about anyone else."""
    files = file_list(owner=user).exclude(key__startswith=EXPORT_KEY_PREFIX)
    emails = EmailMessage.objects.filter(user=user).order_by("-created_at")
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": iso_utc(timezone.now()),
        "profile": {
            "id": user.pk,
            "email": user.email,
            "full_name": user.full_name,
            "avatar_url": user.avatar_url,
            "role": user.role,
            "is_active": user.is_active,
            "subscription_plan": user.subscription_plan,
            "subscription_status": user.subscription_status,
            "created_at": user.created_at,
            "last_login_at": user.last_login_at,
            "login_count": user.login_count,
        },
        "projects": list(project_list(owner=user)),
        "files": [
            {
                "id": file.pk,
                "filename": file.filename,
                "content_type": file.content_type,
                "size": file.current_size,
                "status": file.status,
                "created_at": file.created_at,
                "uploaded_at": file.uploaded_at,
            }
            for file in files
        ],
        "billing": asdict(billing_status(user=user)),
        "usage": asdict(usage_summary(user=user, days=EXPORT_USAGE_DAYS)),
        "emails": [
            {
                "template": email.template,
                "subject": email.subject,
                "to": email.to,
                "status": email.status,
                "created_at": email.created_at,
                "sent_at": email.sent_at,
            }
            for email in emails
        ],
    }


def data_export_build(*, export_id: str, base_url: str, final_attempt: bool) -> ExportOutcome:
    """Build, store and email one export (the task's body); idempotent.

    An export already `ready` (or gone) is left alone. On failure the error is raised again for
    the task to retry, unless `final_attempt`: then the export becomes `failed`.
    """
    try:
        with transaction.atomic():
            export = (
                DataExport.objects.select_for_update()
                .select_related("user")
                .filter(pk=export_id)
                .first()
            )
            if export is None:
                return "missing"
            if export.status == DataExport.Status.READY:
                return "already_ready"
            _build(export=export, base_url=base_url)
    except Exception as exc:
        if not final_attempt:
            raise
        DataExport.objects.filter(pk=export_id).update(
            status=DataExport.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH],
            updated_at=timezone.now(),
        )
        return "failed"
    return "ready"


def _build(*, export: DataExport, base_url: str) -> None:
    user = export.user
    body = json.dumps(data_export_content(user=user), cls=DjangoJSONEncoder, indent=2).encode()
    now = timezone.now()
    file = File(
        owner=user,
        filename=f"{settings.EMAIL_PRODUCT_NAME.lower()}-export-{now:%Y-%m-%d}.json",
        content_type="application/json",
        declared_size=len(body),
        size=len(body),
        status=File.Status.UPLOADED,
        uploaded_at=now,
    )
    file.key = _export_key(user_id=user.pk, export=export)
    # The key is the export's: a run that failed after storing is overwritten by the next one.
    storage.save_uploaded_object(key=file.key, content=ContentFile(body, name="export.json"))
    file.save()
    # Only the newest export is kept.
    files_delete(
        files=File.objects.filter(owner=user, key__startswith=EXPORT_KEY_PREFIX).exclude(pk=file.pk)
    )
    export.status = DataExport.Status.READY
    export.file = file
    export.completed_at = now
    export.error = ""
    export.save(update_fields=["status", "file", "completed_at", "error", "updated_at"])
    if user.email:
        url = urljoin(base_url, storage.download_url(key=file.key, filename=file.filename))
        email_send(
            to=user.email,
            template="export_ready",
            context={
                "name": user.full_name or "",
                "download_url": url,
                "filename": file.filename,
                "size": len(body),
                "expires_in_minutes": max(1, settings.FILE_DOWNLOAD_URL_EXPIRES // 60),
            },
            user=user,
        )
