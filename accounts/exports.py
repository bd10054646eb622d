"""Data exports: a JSON copy of a user's data, built in the background and emailed as a link.

`data_export_request` (POST /users/me/export) records a `DataExport` and queues
`accounts.tasks.build_data_export`, at most one per `EXPORT_MIN_INTERVAL_SECONDS` per user.
`data_export_build` gathers the profile, what every app registered in `accounts.personal_data`
exports (projects, files' metadata, billing status), the usage summary and the emails, stores the
JSON with the registered archive store (as one of the user's files: local disk, S3 and R2 serve it
unchanged) and emails (`export_ready`) its export link, which the user's open clients also get
(`export.ready` and a notification, `accounts.notify`). A new export replaces the previous one;
it stays in the user's files, where a fresh link can be asked for at any time.

The export link (`data_export_link`) outlives the storage's download URLs, which last minutes
(FILE_DOWNLOAD_URL_EXPIRES): it is a signed URL of GET /api/v1/public/exports/download, valid
EXPORT_LINK_DAYS, naming the export and its user. Each click answers 302 to a freshly made
download URL (`data_export_download_url`); once expired, tampered with, or when the export was
replaced or deleted or the account deactivated, it answers 404 NOT_FOUND. The token travels in
the query string, which the access log never writes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from functools import partial
from typing import Any, Literal
from urllib.parse import urlencode, urljoin

from django.conf import settings
from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import personal_data
from accounts.models import DataExport, User
from accounts.notify import export_ready_send
from config.api import iso_utc
from config.celery import enqueue_stored_work
from config.errors import NotFoundError, RateLimitError
from notifications.selectors import email_list
from notifications.services import email_send
from usage.selectors import usage_summary

EXPORT_FORMAT = "groundwork-export"
EXPORT_VERSION = 1
# Days of usage the export's summary covers.
EXPORT_USAGE_DAYS = 30
MAX_ERROR_LENGTH = 2000
# Signs export links; a new salt would invalidate every link sent.
EXPORT_LINK_SALT = "accounts.exports.link"

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
        transaction.on_commit(
            partial(enqueue_stored_work, build_data_export, str(export.pk), base_url)
        )
    return export


def data_export_content(*, user: User) -> dict[str, Any]:
    """Everything the export holds about `user`, and nothing about anyone else."""
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
        **personal_data.export_sections(user),
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
            for email in email_list(user=user)
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
    filename = f"{settings.EMAIL_PRODUCT_NAME.lower()}-export-{now:%Y-%m-%d}.json"
    # Stored under the export's id: a run that failed after storing is overwritten by the next.
    archive = personal_data.archive_store(
        user=user, name=str(export.pk), filename=filename, body=body
    )
    export.status = DataExport.Status.READY
    export.file_id = archive.file_id
    export.completed_at = now
    export.error = ""
    export.save(update_fields=["status", "file", "completed_at", "error", "updated_at"])
    link = data_export_link(export=export, base_url=base_url)
    export_ready_send(user_id=user.pk, export_id=str(export.pk), download_url=link)
    # Only to an address the identity provider vouches for: an unverified one may be another's.
    if user.deliverable_email:
        email_send(
            to=user.deliverable_email,
            template="export_ready",
            context={
                "name": user.full_name or "",
                "download_url": link,
                "filename": filename,
                "size": len(body),
                "expires_in_days": settings.EXPORT_LINK_DAYS,
            },
            user=user,
        )


# --- Export links ------------------------------------------------------------------------------


def data_export_link(*, export: DataExport, base_url: str) -> str:
    """The absolute link to download `export`, valid EXPORT_LINK_DAYS from now.

    Signed (SECRET_KEY, `EXPORT_LINK_SALT`) over the export's id, its user's id and the moment
    it expires, so the validity promised in the email holds whatever the setting later says.
    """
    expires = timezone.now() + timedelta(days=settings.EXPORT_LINK_DAYS)
    token = signing.dumps(
        {"export": str(export.pk), "user": export.user_id, "expires": int(expires.timestamp())},
        salt=EXPORT_LINK_SALT,
    )
    return urljoin(base_url, f"{reverse('exports-download')}?{urlencode({'token': token})}")


def data_export_download_url(*, token: str) -> str:
    """A fresh short-lived download URL (relative for local storage) of the export an export
    link's `token` names.

    404 NOT_FOUND, `details.reason` saying why: `invalid` for a token that is not one of ours,
    `expired` past its validity, `gone` when the export was replaced or deleted, or its user
    deactivated or erased.
    """
    try:
        claims = signing.loads(token, salt=EXPORT_LINK_SALT)
    except signing.BadSignature:
        claims = None
    if not isinstance(claims, dict) or not all(
        isinstance(claims.get(name), kind)
        for name, kind in (("export", str), ("user", str), ("expires", int))
    ):
        raise _link_refused(None, "invalid", "This download link is not valid")
    export_id = claims["export"]
    if claims["expires"] <= timezone.now().timestamp():
        raise _link_refused(
            export_id,
            "expired",
            "This download link has expired: the export is among your files, or ask for a new "
            "export",
        )
    export = (
        DataExport.objects.select_related("user")
        .filter(
            pk=export_id,
            user_id=claims["user"],
            user__is_active=True,
            status=DataExport.Status.READY,
        )
        .first()
    )
    url = None
    if export is not None and export.file_id is not None:
        url = personal_data.archive_link(user=export.user, file_id=str(export.file_id))
    if url is None:
        raise _link_refused(export_id, "gone", "This export is no longer available")
    return url


def _link_refused(export_id: str | None, reason: str, message: str) -> NotFoundError:
    error = NotFoundError(message=message)
    error.details = {"resource": "DataExport", "id": export_id, "reason": reason}
    return error
