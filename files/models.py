"""File records: what a user uploaded, where it is stored, and whether the upload was confirmed."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from config.models import BaseModel, OwnedQuerySet


class File(BaseModel):
    """One uploaded (or announced) file of a user.

    The bytes live in the configured storage under `key`, a generated path that never contains
    anything the client sent; `filename` is the sanitised original name, shown to people and used
    for downloads.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        UPLOADED = "uploaded", "Uploaded"
        FAILED = "failed", "Failed"

    objects: ClassVar[OwnedQuerySet[File]] = OwnedQuerySet.as_manager()  # type: ignore[assignment]

    # The composite indexes below start with the owner, so the FK needs no index of its own.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files", db_index=False
    )
    key = models.CharField(max_length=512, unique=True, editable=False)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    declared_size = models.PositiveBigIntegerField(
        help_text="Size in bytes announced by the client."
    )
    size = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Size in bytes of the stored object, once confirmed."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    uploaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "files"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="files_owner_created_idx"),
            # Covers the storage-use sum (owner + status filter, size summed) without the table.
            models.Index(fields=["owner", "status", "size"], name="files_owner_status_size_idx"),
        ]

    def __str__(self) -> str:
        return self.filename

    @property
    def current_size(self) -> int:
        """The stored size once uploaded, else the size the client announced."""
        return self.size if self.size is not None else self.declared_size
