"""Reads of file records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce

from accounts.models import User
from files.models import File

# Where data exports are stored among a user's files.
EXPORT_KEY_PREFIX = "exports/"


def file_get(*, owner: User, file_id: str, for_update: bool = False) -> File:
    """The owner's file with this id; 404 when missing, malformed or someone else's.

    `for_update` locks the row until the surrounding transaction ends.
    """
    queryset = File.objects.all()
    if for_update:
        queryset = queryset.select_for_update()
    return queryset.get_for_owner(owner=owner, pk=file_id, resource="File")


def file_list(*, owner: User, status: str | None = None) -> QuerySet[File]:
    """The owner's files, newest first, optionally only those with `status`."""
    queryset = File.objects.for_owner(owner)
    if status is not None:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-id")


def file_storage_used(*, owner: User) -> int:
    """Bytes the owner's confirmed uploads take up in storage."""
    used: int = (
        File.objects.for_owner(owner)
        .filter(status=File.Status.UPLOADED)
        .aggregate(total=Coalesce(Sum("size"), 0))["total"]
    )
    return used


def file_storage_pending(*, owner: User, since: datetime) -> int:
    """Bytes announced for the owner's pending uploads started at or after `since`."""
    pending: int = (
        File.objects.for_owner(owner)
        .filter(status=File.Status.PENDING, created_at__gte=since)
        .aggregate(total=Coalesce(Sum("declared_size"), 0))["total"]
    )
    return pending


def export_files(*, owner: User) -> QuerySet[File]:
    """The owner's stored data exports (files the export made, not uploads)."""
    return File.objects.for_owner(owner).filter(key__startswith=EXPORT_KEY_PREFIX)


def file_export_rows(*, owner: User) -> list[dict[str, Any]]:
    """The metadata of the owner's files for their data export (exports themselves left out)."""
    files = file_list(owner=owner).exclude(key__startswith=EXPORT_KEY_PREFIX)
    return [
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
    ]
